"""Evaluation sets shipped with ftpack.

handwritten.jsonl: requests written by hand, the way people type, by writers who never saw the
dataset generator (only the Task API contract); each case has a "class" naming the kind of input
it tests (attributes before the title, unseen words, numbers in titles, no task id, ...). The
benchmark judges the spec on it. Its failures have been read while the generator was improved, so
it has become a development set too.
heldout.jsonl: a second hand-written set (one more class: long titles), written later by another
writer who saw neither the generator nor the first set, and never used to tune anything: the check
that a gain on the first set is a gain on what people type, not on that set.
The generator never emits a request of either set (decontamination), so a score on them is a
score on text the model has not been trained on.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

HANDWRITTEN_CASES = Path(__file__).resolve().parent / "handwritten.jsonl"
HELDOUT_CASES = Path(__file__).resolve().parent / "heldout.jsonl"
# name in reports -> file; the first is the set the spec judges
SHIPPED_SETS = {"hand-written": HANDWRITTEN_CASES, "held-out": HELDOUT_CASES}


def normalized_request(text: str) -> str:
    """What makes two requests 'the same': case and spacing do not count."""
    return " ".join(text.casefold().split())


@lru_cache(maxsize=1)
def held_out_requests() -> frozenset[str]:
    """The normalised requests of the shipped evaluation sets, which training data must not contain."""
    lines = [line for path in SHIPPED_SETS.values() for line in path.read_text("utf-8").splitlines()]
    return frozenset(normalized_request(json.loads(line)["request"]) for line in lines if line.strip())
