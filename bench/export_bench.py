"""Export time and sizes of a finished run (default runs/taskapi) on this machine.

    python bench/export_bench.py [RUN_DIR] [--quant q4_k_m]

Runs `ftpack export RUN_DIR --format adapter,merged,gguf` and writes bench/reports/export.{json,md}:
total and per-step seconds, file sizes, the llama.cpp test reply. Target: <= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import time

from _report import REPORTS, write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", default="runs/taskapi")
    parser.add_argument("--quant", default="q4_k_m")
    args = parser.parse_args()

    from ftpack.export import export

    started = time.perf_counter()
    result = export(args.run_dir, ["adapter", "merged", "gguf"], args.quant)
    figures = {"run_dir": args.run_dir, "quant": args.quant, "total_seconds": round(time.perf_counter() - started, 1),
               "target_seconds": 60}
    for key in ("adapter", "merged", "gguf_f16", "gguf", "adapter_gguf", "base_gguf"):
        figures[f"{key}_mib"] = round(result[key]["bytes"] / 2**20, 1)
        if "seconds" in result[key]:
            figures[f"{key}_seconds"] = result[key]["seconds"]
    figures["llama_cpp_test_reply"] = result["gguf"]["smoke_test"]["reply"].strip()
    write_report("export", "Export time and sizes", figures, REPORTS)


if __name__ == "__main__":
    main()
