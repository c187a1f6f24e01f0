"""Writes a benchmark's figures as bench/reports/NAME.json and NAME.md (a two-column table)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPORTS = Path(__file__).resolve().parent / "reports"


def machine() -> str:
    from ftpack.machine import describe

    return f"{describe()}, python {sys.version.split()[0]}"


def write_report(name: str, title: str, figures: dict[str, Any], out: Path = REPORTS) -> None:
    from ftpack.fsutil import write_files_atomic

    figures = {**figures, "machine": machine()}
    lines = [f"# {title}", "", "| figure | value |", "| --- | --- |"]
    lines += [f"| {k} | {json.dumps(v) if isinstance(v, (dict, list)) else v} |" for k, v in figures.items()]
    write_files_atomic(out, {f"{name}.json": json.dumps(figures, indent=2, default=str) + "\n",
                             f"{name}.md": "\n".join(lines) + "\n"})
    print("\n".join(lines))


def labelled_paths(parser: Any, items: list[str]) -> list[tuple[str, str]]:
    """LABEL=PATH arguments as (label, path); a missing '=' is an argparse usage error (exit 2)."""
    pairs = []
    for item in items:
        label, sep, path = item.partition("=")
        if not sep:
            parser.error(f"{item!r}: give LABEL=PATH, e.g. before=bench/reports/default-model/report.json")
        pairs.append((label, path))
    return pairs
