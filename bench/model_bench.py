"""The default model's benchmark through Ollama, as committed under bench/reports/default-model/.

    python bench/model_bench.py [RUN_DIR] [--model taskapi:candidate] [--structured]

Runs `ftpack bench` (all test cases, f16 comparison) and writes its report.md/json and plots to
bench/reports/default-model/. Needs the run registered (`ftpack register RUN_DIR --name taskapi`)
in the Ollama at OLLAMA_HOST; without one it measures embedded llama.cpp and says so.
"""

from __future__ import annotations

import argparse

from _report import REPORTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", default="runs/taskapi")
    parser.add_argument("--model", default=None)
    parser.add_argument("--structured", action="store_true")
    args = parser.parse_args()

    from ftpack.bench import bench

    out = REPORTS / ("default-model-structured" if args.structured else "default-model")
    report = bench(args.run_dir, model=args.model, structured=args.structured, compare_f16=True, out_dir=out)
    print((out / "report.md").read_text())
    print(f"spec passed: {report['spec']['passed']}")


if __name__ == "__main__":
    main()
