"""The whole default `ftpack ship` on this machine, with per-stage timings.

    python bench/ship_bench.py [--run-dir runs/ship-bench] [--config ship.yaml]
    python bench/ship_bench.py --manifest RUN_DIR/run.json     # report a ship that already ran

Runs the pipeline from scratch (`--from data`) and writes bench/reports/ship.{json,md}: seconds per
stage and in total (target: <= 20 min on 2 cores), val loss, accuracy, latency, spec verdicts.
With --manifest, the figures come from that run's manifest (total = the sum of its stage times),
e.g. the README's main-job command run on a fresh clone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from _report import REPORTS, write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default="runs/ship-bench")
    parser.add_argument("--config", default=None)
    parser.add_argument("--name", default="taskapi-bench")
    parser.add_argument("--manifest", type=Path, help="run.json of a finished `ftpack ship`: report it, run nothing")
    args = parser.parse_args()

    if args.manifest:
        manifest = json.loads(args.manifest.read_text())
        total = sum(manifest["stage_seconds"].values())
        run_dir = args.manifest.parent
    else:
        from ftpack.config import load_config
        from ftpack.ship import Ship

        cfg = load_config(args.config, [f"train.run_dir={args.run_dir}", f"ship.name={args.name}"])
        started = time.perf_counter()
        manifest = Ship(cfg, force_from="data").run()
        total = time.perf_counter() - started
        run_dir = Path(args.run_dir)
    bench = manifest["metrics"]["bench"]
    figures = {"total_seconds": round(total, 1), "target_seconds": 1200,
               "stage_seconds": manifest["stage_seconds"], "base_model": manifest["config"]["train"]["base_model"],
               "recipe": {k: manifest["config"]["train"][k] for k in ("learning_rate", "epochs", "lora_r", "lora_alpha")}
               | {"n_train": manifest["config"]["data"]["n_train"], "quant": manifest["config"]["ship"]["quant"]},
               "val_loss": manifest["metrics"]["train"]["val_loss"], "engine": bench["engine"],
               **{f"{name}: {key}": one["accuracy"][key] for name, one in bench.get("sets", {}).items()
                  for key in ("task_creation_accuracy", "all_operations_accuracy", "clarify_accuracy",
                              "invented_ids")},
               "train_device": manifest["metrics"]["train"].get("device"),
               "latency_p50_ms": bench["latency"]["wall_ms"]["p50"], "latency_p95_ms": bench["latency"]["wall_ms"]["p95"],
               "spec": {v["criterion"]: v["passed"] for v in bench["spec"]["criteria"]},
               "q4_gguf_mib": round(manifest["artefacts"]["gguf"]["bytes"] / 2**20, 1),
               "train_tokens_per_second": manifest["metrics"]["train"]["tokens_per_second"],
               "train_peak_rss_mb": manifest["metrics"]["train"]["peak_rss_mb"],
               "export_seconds": manifest["metrics"]["export"]["seconds"]}
    if "quantization" in bench:
        figures["quantization"] = bench["quantization"]
    if "floor" in bench:
        floor = bench["floor"]
        figures["engine floor"] = {k: floor[k] for k in ("prompt_tokens_per_second", "decode_tokens_per_second",
                                                         "floor_ms", "served_over_floor", "verdict")}
    write_report("ship", "ftpack ship on the default", figures, REPORTS)
    # The shipped model's own benchmark report, kept beside the figures.
    target = REPORTS / "default-model"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("report.md", "report.json", "latency.png", "accuracy.png"):
        shutil.copy2(run_dir / "bench" / name, target / name)


if __name__ == "__main__":
    main()
