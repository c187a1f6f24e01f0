"""Which cases a recipe fails in every run, and which only in some: the steady part of its error.

    python bench/failure_spread.py NAME RUN [RUN ...] [--out DIR]

Each RUN names an `ftpack ship` benchmark (bench/reports/RUN/report.json or runs/RUN/bench/report.json),
normally runs of one recipe over several data draws and training seeds. For the hand-written and held-out
sets it counts, case by case, in how many runs the case failed, and splits each run's mean failures into
steady ones (cases failed in every run) and the rest; the cases failed in most runs are about what a
majority vote of the runs would still get wrong, the floor of removing the run-to-run spread alone. A
change aimed at a steady failure can be judged on that case; the rest moves from run to run, and only
pooled pairs of runs can show a change to it.
For a bar such as ">= 95 % of the creates", it also gives the mean failures per run against what the bar
allows. No model runs: this reads the failures the reports list. Writes bench/reports/NAME.{json,md}.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from paired_runs import JUDGED_SETS, ROOT, parse_run_arguments, report_path

from ftpack.fsutil import write_files_atomic

CREATES_BAR = 0.95  # issue 11: >= 95 % of the hand-written creates


def set_spread(reports: list[dict[str, Any]], set_name: str) -> dict[str, Any]:
    runs = [report["sets"][set_name]["accuracy"] for report in reports]
    failed_in: Counter[str] = Counter()
    cases: dict[str, dict[str, Any]] = {}
    for accuracy in runs:
        for failure in accuracy["failures"]:
            failed_in[failure["id"]] += 1
            case = cases.setdefault(failure["id"], {"id": failure["id"], "class": failure.get("class"),
                                                    "action": failure["expected_action"],
                                                    "request": failure["request"]})
            case["got"] = failure["got"]  # the last run's reply is the one shown
    n = len(runs)

    def split(action: str | None) -> dict[str, Any]:
        ids = [case_id for case_id in failed_in if action is None or cases[case_id]["action"] == action]
        total = sum(failed_in[case_id] for case_id in ids)
        steady = [case_id for case_id in ids if failed_in[case_id] == n]
        return {"mean failures per run": round(total / n, 2),
                "steady (failed in every run), per run": len(steady),
                "the rest, per run": round((total - len(steady) * n) / n, 2),
                "failed in most runs (a vote of the runs would fail them)": sum(2 * failed_in[i] > n for i in ids),
                "cases failed at least once": len(ids),
                "cases by runs failed": {k: sum(1 for i in ids if failed_in[i] == k) for k in range(1, n + 1)}}

    creates = runs[0]["n_create_cases"]
    allowed = int(creates * (1 - CREATES_BAR) + 1e-9)
    steady = sorted((cases[i] for i in failed_in if failed_in[i] == n), key=lambda c: c["id"])
    return {"runs": n, "cases": runs[0]["n_cases"], "creates": creates,
            "all operations": split(None), "creates only": split("create_task"),
            f"create failures a {CREATES_BAR:.0%} bar allows per run": allowed,
            "steady cases": steady}


def shortened(reply: str, limit: int = 160) -> str:
    return reply if len(reply) <= limit else reply[:limit] + f"... ({len(reply)} characters)"


def markdown(name: str, runs: list[str], spread: dict[str, Any]) -> str:
    lines = [f"# {name}: failures over {len(runs)} runs", "", "Runs: " + ", ".join(f"`{r}`" for r in runs), ""]
    for set_name, one in spread.items():
        lines += [f"## {set_name} set ({one['cases']} cases, {one['creates']} creates)", "",
                  "| | all operations | creates only |", "| --- | --- | --- |"]
        for key in one["all operations"]:
            lines.append(f"| {key} | {one['all operations'][key]} | {one['creates only'][key]} |")
        lines += ["", f"A {CREATES_BAR:.0%} creates bar allows "
                  f"{one[f'create failures a {CREATES_BAR:.0%} bar allows per run']} create failures per run.", "",
                  "| steady case | class | request | got (last run) |", "| --- | --- | --- | --- |"]
        lines += [f"| {c['id']} | {c['class']} | {c['request']} | `{shortened(c['got'])}` |" for c in one["steady cases"]]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser, args = parse_run_arguments(__doc__, "RUN")
    if len(args.runs) < 2:
        parser.error("give at least two runs: a spread needs more than one")
    paths = [report_path(parser, run) for run in args.runs]
    reports = [json.loads(path.read_text("utf-8")) for path in paths]
    for run, report in zip(args.runs, reports):
        missing = [s for s in JUDGED_SETS if "failures" not in report.get("sets", {}).get(s, {}).get("accuracy", {})]
        if missing:
            parser.error(f"{run!r}: its report lists no failures of the {', '.join(missing)} set; use newer runs")
    for set_name in JUDGED_SETS:
        sizes = {run: report["sets"][set_name]["n_cases"] for run, report in zip(args.runs, reports)}
        if len(set(sizes.values())) > 1:
            parser.error(f"the runs judged {set_name} sets of different sizes ({sizes}): compare runs of one set version")
    spread = {set_name: set_spread(reports, set_name) for set_name in JUDGED_SETS}
    figures = {"runs": [str(path.relative_to(ROOT)) for path in paths], "sets": spread}
    text = markdown(args.name, args.runs, spread)
    write_files_atomic(args.out, {f"{args.name}.json": json.dumps(figures, indent=2, ensure_ascii=False) + "\n",
                                  f"{args.name}.md": text})
    print(text)


if __name__ == "__main__":
    main()
