"""Before/after: the latency, token and accuracy figures of several `ftpack bench` reports side by side.

    python bench/compare_reports.py NAME LABEL=RUN/bench/report.json LABEL=... [--set hand-written]

A column may name its own set as LABEL=REPORT.json::SET (a report of `ftpack bench --cases
heldout.jsonl` calls its one set "heldout").

Each report keeps the machine it ran on (its floor section), and that machine is a row of the
table: milliseconds compare only on one machine, tokens compare anywhere. Writes
bench/reports/NAME.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _report import REPORTS, labelled_paths


def uncached_prompt_tokens(engine: str, latency: dict[str, Any]) -> str:
    tokens = latency["prompt_tokens"]
    if engine == "ollama" and "prompt_tokens_total" not in latency:
        # reports before the bench counted the cache hold Ollama's prompt_eval_count: the whole prompt
        return f"not counted (whole prompt {tokens['p50']} / {tokens['p95']})"
    return f"{tokens['p50']} / {tokens['p95']}"


def figures(report: dict[str, Any], set_name: str) -> dict[str, Any]:
    one = report["sets"][set_name]
    latency, accuracy = one["latency"], one["accuracy"]
    floor = report.get("floor") or {}
    served_floor = floor.get("served_over_floor") or {}
    machine = floor.get("machine") or {}
    return {
        "engine": report["engine"],
        "machine": f"{machine.get('model', '?')}, {machine.get('physical_cores', '?')} cores",
        "wall ms p50 / p95": f"{latency['wall_ms']['p50']} / {latency['wall_ms']['p95']}",
        "time to first token ms p50": latency["ttft_ms"]["p50"],
        "prompt tokens evaluated (not cached) p50 / p95": uncached_prompt_tokens(report["engine"], latency),
        "reply tokens p50 / p95": f"{latency['eval_tokens']['p50']} / {latency['eval_tokens']['p95']}",
        "decode tokens/s p50": latency["tokens_per_second"]["p50"],
        "llama.cpp floor ms p50 / p95": (f"{floor['floor_ms']['p50']} / {floor['floor_ms']['p95']}"
                                         if floor.get("floor_ms") else None),
        "served / floor p50 / p95": (f"{served_floor.get('p50')} / {served_floor.get('p95')}"
                                     if served_floor else None),
        "llama.cpp prompt / decode tokens/s": (f"{floor.get('prompt_tokens_per_second')} / "
                                               f"{floor.get('decode_tokens_per_second')}" if floor else None),
        "verdict": floor.get("verdict"),
        "task creation": accuracy["task_creation_accuracy"],
        "all operations": accuracy["all_operations_accuracy"],
        "clarify": accuracy["clarify_accuracy"],
        "invented task ids": accuracy["invented_ids"],
        "JSON valid": accuracy["json_valid_rate"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("reports", nargs="+", metavar="LABEL=REPORT.json")
    parser.add_argument("--set", dest="set_name", default="hand-written")
    args = parser.parse_args()
    columns = {}
    for label, path in labelled_paths(parser, args.reports):
        item = f"{label}={path}"
        path, _, set_name = path.partition("::")
        set_name = set_name or args.set_name
        if not Path(path).is_file():
            parser.error(f"{item!r}: no report at {path} (a label may not contain '=')")
        report = json.loads(Path(path).read_text("utf-8"))
        if set_name not in report.get("sets", {}):
            parser.error(f"{path} has no {set_name!r} set: it has {', '.join(report.get('sets', {})) or 'none'}")
        columns[label] = {"report": path, "set": set_name, **figures(report, set_name)}
    rows = list(next(iter(columns.values())))
    lines = [f"# Before / after on the {args.set_name} set", "", "| figure | " + " | ".join(columns) + " |",
             "| --- |" + " --- |" * len(columns)]
    lines += [f"| {row} | " + " | ".join(str(c.get(row)) for c in columns.values()) + " |" for row in rows]
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{args.name}.json").write_text(json.dumps(columns, indent=2) + "\n")
    (REPORTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
