"""Training requests written the way people type, mixed into the generated rows (`data.n_written`).

The generator composes requests from known parts, so its text has the generator's shapes however
many forms it knows; the shipped model scored 8-15 points lower on hand-written requests than on
its own test split. written.jsonl holds requests written as people type, each with the reply the
contract asks for, by writers who saw only the contract's conventions: neither the generator nor
the evaluation sets. `ftpack.data.curate` made the file from theirs and says what a row must be.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from ftpack import taskapi
from ftpack.errors import FtpackError

WRITTEN_ROWS = Path(__file__).resolve().parent / "written.jsonl"
# Written rows carry no date (the prompt has none); their date phrases are checked against this day.
REFERENCE_DAY = dt.date(2026, 3, 2)


@lru_cache(maxsize=1)
def written_rows() -> tuple[tuple[str, dict[str, Any]], ...]:
    """The shipped written rows as (request, call)."""
    lines = WRITTEN_ROWS.read_text("utf-8").splitlines()
    rows = (json.loads(line) for line in lines if line.strip())
    return tuple((row["request"], taskapi.call_from_reply(row["reply"])) for row in rows)


def of_actions(actions: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    """The written rows whose call is one of these actions."""
    wanted = set(actions)
    return [row for row in written_rows() if row[1]["action"] in wanted]


def check_count(n_written: int, n_train: int, actions: Iterable[str]) -> None:
    """A one-line error for more written rows than the training split or the file holds."""
    if n_written > n_train:
        raise FtpackError(f"data.n_written ({n_written}) is more than data.n_train ({n_train}); "
                          "lower it or raise data.n_train")
    held = len(of_actions(actions))
    if n_written > held:
        raise FtpackError(f"data.n_written is {n_written} but {WRITTEN_ROWS.name} holds {held} rows of "
                          f"data.written_actions; use at most {held}")


def draw(rng: random.Random, n: int, actions: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    """n written rows of these actions, drawn without repeats."""
    return rng.sample(of_actions(actions), n)
