"""Rescore the replies saved in `ftpack bench` reports with today's scorer, side by side.

    python bench/rescore_reports.py NAME LABEL=RUN/bench/report.json LABEL=... 

A figure the scorer gained after a run (unasked edits: an update, completion or deletion where
another action or another task was asked for) is then known for every run whose replies were
saved, without serving the models again. The shipped sets are read from this checkout; a
generated set from the cases file its report names (skipped, and said so, where that is gone).
Writes bench/reports/NAME.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _report import REPORTS, labelled_paths, machine

from ftpack.evalsets import SHIPPED_SETS
from ftpack.score import load_cases, score

ROOT = REPORTS.parent.parent
FIGURES = ("task_creation_accuracy", "all_operations_accuracy", "clarify_accuracy", "invented_ids", "unasked_edits")


def rescore(report: dict[str, Any]) -> dict[str, Any]:
    sets: dict[str, Any] = {}
    for name, one in report["sets"].items():
        cases_file = SHIPPED_SETS.get(name) or ROOT / one["cases_file"]  # `ftpack ship` writes it relative
        if not cases_file.is_file():
            sets[name] = {"skipped": f"{cases_file} is gone"}
            continue
        cases = load_cases(cases_file)
        if [c.request for c in cases] != [r["request"] for r in one["requests"]]:
            sets[name] = {"skipped": f"{cases_file} no longer holds the requests these replies answer"}
            continue
        metrics, results = score(cases, [r["reply"] for r in one["requests"]])
        sets[name] = {**{key: metrics[key] for key in FIGURES},
                      "unasked": [f"{r.id}: {r.request!r} -> {r.reply}" for r in results if r.unasked_edit]}
    return sets


def markdown(title: str, runs: dict[str, dict[str, Any]]) -> str:
    set_names = list(dict.fromkeys(name for sets in runs.values() for name in sets))
    lines = [f"# {title}", "", f"Rescored on {machine()}.", "",
             "| run | " + " | ".join(set_names) + " |", "| --- |" + " --- |" * len(set_names)]
    for label, sets in runs.items():
        cells = []
        for name in set_names:
            one = sets.get(name, {"skipped": "not in this report"})
            cells.append(one["skipped"] if "skipped" in one else
                         f"creates {one['task_creation_accuracy']}, all {one['all_operations_accuracy']}, "
                         f"clarify {one['clarify_accuracy']}, invented ids {one['invented_ids']}, "
                         f"unasked edits {one['unasked_edits']}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "## Unasked edits", ""]
    for label, sets in runs.items():
        for name, one in sets.items():
            lines += [f"- {label}, {name}: {item}" for item in one.get("unasked", [])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("runs", nargs="+", metavar="LABEL=REPORT.json")
    args = parser.parse_args()
    runs = {}
    for label, path in labelled_paths(parser, args.runs):
        if not Path(path).is_file():
            parser.error(f"{label}={path}: no report at {path} (a label may not contain '=')")
        runs[label] = rescore(json.loads(Path(path).read_text("utf-8")))
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{args.name}.json").write_text(json.dumps({"machine": machine(), "runs": runs}, indent=2) + "\n")
    text = markdown(f"Saved replies rescored: {args.name}", runs)
    (REPORTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
