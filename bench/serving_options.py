"""Serving options, measured one at a time on the same requests: keep only what helps.

    python bench/serving_options.py RUN_DIR [--model taskapi:candidate] [--cases 80] [--quants q4_0,q8_0]

For the run's served GGUF on this machine: llama.cpp's own speeds at 1 and 2 threads (the floor),
the model through Ollama with its defaults and with num_thread 1 / 2, num_batch 64, the JSON Schema
as `format` (--structured), and the GGUF in embedded llama.cpp at 1 and 2 threads. Each variant
answers the first N hand-written cases after a warm-up; the figures are wall p50/p95, decode
tokens/s (the engine's own eval_count / eval_duration where it reports them, else the bench's), and
the bench's overhead: its own reply tokens/s against the engine's.

Other quantizations (--quants) are written from the run's f16 GGUF into a temporary folder (the
run is not touched): their tensor types (K-quants fall back for 576-wide rows), llama.cpp's speeds
measured in alternation with the served GGUF's (so that a machine that drifts does not favour one),
and their accuracy and latency in embedded llama.cpp. Writes bench/reports/serving-options.{json,md},
with the machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _report import write_report


def quantized(f16: Path, quants: list[str], out_dir: Path) -> dict[str, Path]:
    from ftpack.export import quantize

    paths = {}
    for quant in quants:
        paths[quant] = out_dir / f"model-{quant}.gguf"
        quantize(f16, paths[quant], quant)
    return paths


def alternating_speeds(variants: dict[str, Path], rounds: int = 3) -> dict[str, tuple[float, float]]:
    """Median prompt and decode tokens/s per GGUF, measured in turn, round after round."""
    from ftpack.bench.floor import engine_speeds

    measured: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, path in variants.items():
            measured[name].append(engine_speeds(path, 20))
    return {name: (statistics.median(s["prompt_tokens_per_second"] for s in runs),
                   statistics.median(s["decode_tokens_per_second"] for s in runs))
            for name, runs in measured.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", default="runs/taskapi")
    parser.add_argument("--model", default=None)
    parser.add_argument("--cases", type=int, default=80)
    parser.add_argument("--quants", default="q4_0,q8_0",
                        help="other quantizations to compare with the served one, comma-separated ('' for none)")
    args = parser.parse_args()

    from ftpack.bench import run_cases
    from ftpack.bench.engines import llamacpp_engine, ollama_engine, prompt_token_ids
    from ftpack.bench.figures import latency_summary
    from ftpack.bench.floor import engine_speeds
    from ftpack.config import QUANTS
    from ftpack.evalsets import HANDWRITTEN_CASES
    from ftpack.export import gguf_metadata
    from ftpack.machine import describe
    from ftpack.rundir import export_path, read_metrics
    from ftpack.score import load_cases, score

    run_dir = Path(args.run_dir)
    metrics = read_metrics(run_dir)
    if "gguf" not in metrics.get("export", {}):
        parser.error(f"{run_dir} has no exported GGUF: run `ftpack export {run_dir}` (or `ftpack ship`) first")
    gguf = export_path(run_dir, metrics["export"]["gguf"])
    model = args.model or metrics.get("register", {}).get("model")
    cases = load_cases(HANDWRITTEN_CASES)[: args.cases]
    quants = [q.strip() for q in args.quants.split(",") if q.strip() and q.strip() != metrics["export"]["quant"]]
    unknown = [q for q in quants if q not in QUANTS]
    if unknown:
        parser.error(f"--quants: {', '.join(unknown)} unknown; use some of {', '.join(QUANTS)}")
    if quants and "gguf_f16" not in metrics["export"]:
        parser.error(f"--quants: {run_dir} has no f16 GGUF to quantize: run `ftpack export {run_dir}` first")
    figures: dict = {"machine": describe(), "cases": len(cases), "gguf": gguf.name}
    for threads in (1, 2):
        speeds = engine_speeds(gguf, 20, threads=threads)
        figures[f"llama.cpp floor, {threads} thread(s)"] = (
            f"prompt {speeds['prompt_tokens_per_second']} tok/s, decode {speeds['decode_tokens_per_second']} tok/s")

    def measure(name: str, engine) -> None:
        engine.ask(cases[0])  # warm-up: loaded, prefix cached
        replies, _ = run_cases(engine, cases)
        engine.close()
        summary = latency_summary([r.timing for r in replies])
        accuracy, _ = score(cases, [r.text for r in replies])
        own = [r.timing.eval_tokens / ((r.timing.wall_ms - (r.timing.ttft_ms or 0)) / 1000) for r in replies
               if r.timing.eval_tokens and r.timing.ttft_ms and r.timing.wall_ms > r.timing.ttft_ms]
        engine_tps = summary["tokens_per_second"]["p50"]
        own_tps = sorted(own)[len(own) // 2] if own else None
        figures[name] = {"p50_ms": summary["wall_ms"]["p50"], "p95_ms": summary["wall_ms"]["p95"],
                         "decode_tok_s": engine_tps, "bench_tok_s": round(own_tps, 1) if own_tps else None,
                         "prompt_tokens_p50": summary["prompt_tokens"]["p50"],
                         "reply_tokens_p95": summary["eval_tokens"]["p95"],
                         "task_creation_accuracy": accuracy["task_creation_accuracy"],
                         "all_operations_accuracy": accuracy["all_operations_accuracy"]}
        print(name, figures[name], flush=True)

    if model:
        tokens = prompt_token_ids(run_dir)  # Ollama counts the cached prefix as prompt tokens too
        for name, options in (("ollama defaults", {}), ("ollama num_thread 1", {"num_thread": 1}),
                              ("ollama num_thread 2", {"num_thread": 2}), ("ollama num_batch 64", {"num_batch": 64})):
            measure(name, ollama_engine(model, None, False, options, prompt_tokens=tokens))
        measure("ollama --structured", ollama_engine(model, None, True, prompt_tokens=tokens))
    for threads in (1, 2):
        measure(f"embedded llama.cpp, {threads} thread(s)", llamacpp_engine(run_dir, gguf, False, threads=threads))
    if quants:
        with tempfile.TemporaryDirectory(prefix="ftpack-quants-") as tmp:
            served = {metrics["export"]["quant"]: gguf}
            variants = {**served, **quantized(export_path(run_dir, metrics["export"]["gguf_f16"]), quants, Path(tmp))}
            for quant, speeds in alternating_speeds(variants).items():
                figures[f"{quant}: tensors, llama.cpp speeds"] = (
                    f"{gguf_metadata(variants[quant])['tensor_types']}; prompt {speeds[0]} tok/s, decode {speeds[1]} tok/s")
            for quant in quants:
                measure(f"embedded llama.cpp, {quant}", llamacpp_engine(run_dir, variants[quant], False))
    write_report("serving-options", f"Serving options for {model or gguf.name}", figures)


if __name__ == "__main__":
    main()
