"""Evaluation sets shipped with ftpack.

handwritten.jsonl: requests written by hand, the way people type, by writers who never saw the
dataset generator (only the Task API contract); each case has a "class" naming the kind of input
it tests (attributes before the title, unseen words, numbers in titles, no task id, ...). The
benchmark judges the spec on it. The generator never emits one of its requests (decontamination),
so a score on it is a score on text the model has not been trained on.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

HANDWRITTEN_CASES = Path(__file__).resolve().parent / "handwritten.jsonl"


def normalized_request(text: str) -> str:
    """What makes two requests 'the same': case and spacing do not count."""
    return " ".join(text.casefold().split())


@lru_cache(maxsize=1)
def held_out_requests() -> frozenset[str]:
    """The normalised requests of the shipped evaluation sets, which training data must not contain."""
    lines = HANDWRITTEN_CASES.read_text("utf-8").splitlines()
    return frozenset(normalized_request(json.loads(line)["request"]) for line in lines if line.strip())
