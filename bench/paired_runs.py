"""A recipe or data change against the default, run by run and pooled: the figures a keep rule reads.

    python bench/paired_runs.py NAME BASE:CHANGE [BASE:CHANGE ...]

Each BASE:CHANGE pair names two `ftpack ship` benchmarks that share a data draw and a training seed,
one of the default recipe and one of the change (e.g. amx-default:amx-neftune); a run is read from
bench/reports/RUN/report.json (saved) or runs/RUN/bench/report.json. One run of a recipe spreads over
~5 points of creates with the training seed and as far again with the data draw, so a rule should pool
over pairs of both. No model runs: this sums what the reports hold, per run and pooled per side:
hand-written + held-out creates (the counts a rule compares), invented ids and unasked edits (both sets),
the lowest clarify accuracy of any run, JSON-valid replies and training seconds.
Writes bench/reports/NAME.{json,md} (or --out DIR).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _report import REPORTS

from ftpack.evalsets import SHIPPED_SETS
from ftpack.fsutil import write_files_atomic

ROOT = Path(__file__).resolve().parent.parent
JUDGED_SETS = tuple(SHIPPED_SETS)  # the hand-written and held-out sets every ship benchmark runs


def report_path(parser: argparse.ArgumentParser, run: str) -> Path:
    for path in (REPORTS / run / "report.json", ROOT / "runs" / run / "bench" / "report.json"):
        if path.is_file():
            return path
    parser.error(f"{run!r}: no report at bench/reports/{run}/report.json or runs/{run}/bench/report.json")


def run_figures(parser: argparse.ArgumentParser, run: str) -> dict[str, Any]:
    path = report_path(parser, run)
    report = json.loads(path.read_text("utf-8"))
    sets = report.get("sets", {})
    missing = [name for name in (*JUDGED_SETS, "generated") if name not in sets]
    if missing:
        parser.error(f"{path.relative_to(ROOT)} has no {', '.join(missing)} set: it predates the shipped sets, pair newer runs")
    accuracy = {name: one["accuracy"] for name, one in sets.items()}

    def creates(name: str) -> int:
        return round(accuracy[name]["task_creation_accuracy"] * accuracy[name]["n_create_cases"])

    def replies(name: str) -> tuple[int, int]:
        n = accuracy[name]["n_cases"]
        return round(accuracy[name]["json_valid_rate"] * n), n

    valid, total = map(sum, zip(*(replies(name) for name in JUDGED_SETS)))
    return {
        "run": run, "report": str(path.relative_to(ROOT)),
        "training_seconds": round(report["training"]["train_seconds"]),
        "hand-written creates": creates("hand-written"), "held-out creates": creates("held-out"),
        "generated creates (own split)": creates("generated"),
        "hand-written all operations": accuracy["hand-written"]["all_operations_accuracy"],
        "clarify": accuracy["hand-written"]["clarify_accuracy"],
        "invented ids": sum(accuracy[name]["invented_ids"] for name in JUDGED_SETS),
        "unasked edits": sum(accuracy[name]["unasked_edits"] for name in JUDGED_SETS),
        "json valid": valid, "replies": total,
    }


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summed = ("hand-written creates", "held-out creates", "generated creates (own split)", "invented ids",
              "unasked edits", "json valid", "replies", "training_seconds")
    totals = {key: sum(run[key] for run in runs) for key in summed}
    totals["hw+ho creates"] = totals["hand-written creates"] + totals["held-out creates"]
    totals["lowest clarify"] = min(run["clarify"] for run in runs)
    return totals


def parse_run_arguments(doc: str, metavar: str) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """NAME, one or more runs (args.runs) and --out: the arguments of the scripts that read saved runs."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("runs", nargs="+", metavar=metavar)
    parser.add_argument("--out", type=Path, default=REPORTS, help="folder for NAME.json and NAME.md")
    return parser, parser.parse_args()


def main() -> None:
    parser, args = parse_run_arguments(__doc__, "BASE:CHANGE")
    pairs = []
    for item in args.runs:
        base, sep, change = item.partition(":")
        if not sep or not base or not change:
            parser.error(f"{item!r}: give BASE:CHANGE, two run names, e.g. amx-default:amx-neftune")
        pairs.append((run_figures(parser, base), run_figures(parser, change)))
    sides = {"base": pooled([b for b, _ in pairs]), "change": pooled([c for _, c in pairs])}
    difference = {key: sides["change"][key] - sides["base"][key] for key in sides["base"]}
    columns = ["run", "training_seconds", "hand-written creates", "held-out creates",
               "generated creates (own split)", "hand-written all operations", "clarify", "invented ids",
               "unasked edits", "json valid"]
    lines = [f"# {args.name}: {len(pairs)} pairs, base against change", "",
             "| pair | side | " + " | ".join(columns) + " |", "| --- | --- |" + " --- |" * len(columns)]
    for number, pair in enumerate(pairs, 1):
        for side, run in zip(("base", "change"), pair):
            lines.append(f"| {number} | {side} | " + " | ".join(str(run[c]) for c in columns) + " |")
    lines += ["", "| pooled | base | change | change - base |", "| --- | --- | --- | --- |"]
    lines += [f"| {key} | {sides['base'][key]} | {sides['change'][key]} | {difference[key]:+g} |"
              for key in sides["base"]]
    figures = {"pairs": [{"base": b, "change": c} for b, c in pairs], "pooled": sides, "difference": difference}
    write_files_atomic(args.out, {f"{args.name}.json": json.dumps(figures, indent=2) + "\n",
                                  f"{args.name}.md": "\n".join(lines) + "\n"})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
