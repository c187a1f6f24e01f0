"""The anchored schema on every request, against asking under it only for a second try.

    python bench/anchored_every_request.py NAME RUN_DIR MODEL [--host HOST]

Runs the hand-written set through Ollama with every request decoded under its anchored schema
(`anchor.anchored_schema`, one try each) and prints accuracy and latency; compare with the same
model's `ftpack bench` report, whose client decodes freely and asks again under the schema only
when `anchor.needs_second_try` says so. Writes bench/reports/NAME.{json,md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _report import write_report


def measure(run_dir: Path, model: str, host: str) -> dict:
    from ftpack.bench.engines import ollama_engine, prompt_token_ids
    from ftpack.bench.figures import percentiles
    from ftpack.evalsets import SHIPPED_SETS
    from ftpack.score import load_cases, score

    cases = load_cases(SHIPPED_SETS["hand-written"])
    engine = ollama_engine(model, host, structured=False, prompt_tokens=prompt_token_ids(run_dir))
    engine.ask(cases[0], constrained=True)  # warm-up
    replies = [engine.ask(case, constrained=True) for case in cases]
    accuracy, _ = score(cases, [r.text for r in replies])
    keys = ("task_creation_accuracy", "all_operations_accuracy", "clarify_accuracy", "json_valid_rate",
            "invented_ids", "unasked_edits")
    return {"model": model, "run_dir": str(run_dir), "cases": len(cases), **{k: accuracy[k] for k in keys},
            "replies cut at the token cap": sum(r.cut for r in replies),
            "wall_ms": percentiles([r.timing.wall_ms for r in replies])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("model")
    parser.add_argument("--host", default="127.0.0.1:11434")
    args = parser.parse_args()
    write_report(args.name, "The anchored schema on every hand-written request", measure(args.run_dir, args.model,
                                                                                          args.host))


if __name__ == "__main__":
    main()
