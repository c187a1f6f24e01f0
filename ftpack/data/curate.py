"""Curate writers' rows into ftpack/data/written.jsonl: what a written training row must be.

`python -m ftpack.data.curate RAW.jsonl... > ftpack/data/written.jsonl` reads the writers' rows
({"request": ..., "reply": {...}} per line), keeps those fit to train on, writes them in the
generator's spelling, and says on stderr what it dropped and why.

A row is fit when its call is valid, holds only values its request holds (`ftpack.anchor`), asks
only the contract's questions, and its request is not close to an evaluation case. Writers are
language models like the ones that wrote the evaluation sets, and such writers reach for the same
names and jobs ("rebase ... onto main and squash the fixup commits" came back almost word for word),
so "close" is more than a reworded request: a rare word or a three-word phrase that a row shares
with an evaluation case counts too, unless the generator writes it anyway. Training on such a row
would teach the model an evaluation case's words and make its score a score on seen text.
"""

from __future__ import annotations

import json
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from ftpack import anchor, taskapi
from ftpack.data.surface import as_title
from ftpack.data.written import REFERENCE_DAY
from ftpack.evalsets import SHIPPED_SETS, normalized_request

# Two requests sharing this share of their words (Jaccard) are one request reworded.
REWORDED = 0.6
# wordfreq's Zipf scale: below RARE a word is rare enough to identify a request ("recaulk",
# "monstera", "Okafor"); at FUNCTION and above it is a function word ("the", "to", "my").
RARE, FUNCTION = 3.0, 6.0
GENERATOR_SAMPLE = 20_000  # rows whose text stands for what the generator writes (~6 s)
_QUESTIONS = {*taskapi.ASK_FOR_ID.values(), "What is the task?"}
_CHANGE_QUESTION = re.compile(r"^What should change in task (\d+)\?$")


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'#]+", text.casefold())


def _runs(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


def _phrases(words: list[str]) -> set[tuple[str, ...]]:
    """Its three-word runs that hold two or more words other than function words."""
    from wordfreq import zipf_frequency

    return {run for run in _runs(words) if sum(zipf_frequency(w, "en") < FUNCTION for w in run) >= 2}


def _rare(words: Iterable[str]) -> set[str]:
    from wordfreq import zipf_frequency

    return {w for w in words if not w.isdigit() and zipf_frequency(w, "en") < RARE}


@lru_cache(maxsize=1)
def _generator_text() -> tuple[frozenset[str], frozenset[tuple[str, ...]]]:
    """The words and phrases the generator writes: a row sharing only those with an evaluation
    case brings the model nothing of that case that the generated rows do not."""
    from ftpack.data.generate import generate

    words, phrases = set(), set()
    for _, request, _ in generate(0, GENERATOR_SAMPLE, 1, 1)["train"]:
        said = _words(request)
        words.update(said)
        phrases.update(_runs(said))
    return frozenset(words), frozenset(phrases)


@lru_cache(maxsize=1)
def _evaluation_requests() -> tuple[tuple[str, frozenset[str], frozenset[str], frozenset[tuple[str, ...]]], ...]:
    generated_words, generated_phrases = _generator_text()
    cases = []
    for path in SHIPPED_SETS.values():
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                request = json.loads(line)["request"]
                said = _words(request)
                cases.append((request, frozenset(said), frozenset(_rare(said) - generated_words),
                              frozenset(_phrases(said) - generated_phrases)))
    return tuple(cases)


def too_close(request: str) -> str | None:
    """Which evaluation case a request is too close to, and how; None when it is clear of them all."""
    said = _words(request)
    words, rare, phrases = set(said), _rare(said), _phrases(said)
    for case, case_words, case_rare, case_phrases in _evaluation_requests():
        union = words | case_words
        if union and len(words & case_words) / len(union) >= REWORDED:
            return f"reworded from an evaluation case: {case!r}"
        if shared := sorted(rare & case_rare):
            return f"shares {shared[0]!r} with an evaluation case: {case!r}"
        if shared_phrase := sorted(phrases & case_phrases):
            return f"shares {' '.join(shared_phrase[0])!r} with an evaluation case: {case!r}"
    return None


def row_problem(request: str, call: Any) -> str | None:
    """Why a written row cannot train the model, or None."""
    try:
        taskapi.validate_call(call, REFERENCE_DAY)
    except taskapi.TaskAPIError as error:
        return f"not a Task API call: {error}"
    if not anchor.anchored(request, call, REFERENCE_DAY):
        return "holds a value the request does not"
    question = call.get("question")
    if question is not None and question not in _QUESTIONS:
        match = _CHANGE_QUESTION.match(question)
        if not match or not taskapi.names_task_id(request, int(match.group(1))):
            return f"asks a question the contract does not: {question!r}"
    return too_close(request)


def _as_typed(request: str, title: str) -> str:
    """The title in the request's own casing (writers capitalise names now and then), first
    letter upper-cased and without final punctuation, as the generator writes titles."""
    typed = {word.casefold(): word for word in request.split()}
    return as_title(" ".join(typed.get(word.casefold(), word) for word in title.strip().rstrip(".,!?;:").split()))


def tidy(call: dict[str, Any], request: str) -> dict[str, Any]:
    """A writer's call in the generator's spelling: standard date words, lower-case tags, titles as typed."""
    call = json.loads(json.dumps(call))
    for holder in (call, call.get("changes")):
        if not isinstance(holder, dict):
            continue
        if isinstance(holder.get("due_date"), str):
            holder["due_date"] = " ".join(taskapi.standard_spelling(w) for w in holder["due_date"].split())
        if isinstance(holder.get("tags"), list):
            holder["tags"] = [t.casefold() if isinstance(t, str) else t for t in holder["tags"]]
        if isinstance(holder.get("title"), str):
            holder["title"] = _as_typed(request, holder["title"])
    return call


def curate(rows: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Writers' rows -> (rows to keep, [(request, why dropped)])."""
    kept, dropped, seen = [], [], set()
    for row in rows:
        request = " ".join(str(row.get("request", "")).split())
        call = taskapi.call_from_reply(row.get("reply"))
        if isinstance(call, dict):
            call = tidy(call, request)
        key = normalized_request(request)
        problem = "the same request as another row" if key in seen else row_problem(request, call)
        if problem:
            dropped.append((request, problem))
            continue
        seen.add(key)
        kept.append({"request": request, "reply": json.loads(taskapi.dumps(call))})
    return kept, dropped


def main(paths: list[str]) -> int:
    raw = [json.loads(line) for path in paths for line in Path(path).read_text("utf-8").splitlines()
           if line.strip()]
    kept, dropped = curate(raw)
    for request, why in dropped:
        print(f"dropped: {why}: {request}", file=sys.stderr)
    print(f"kept {len(kept)} of {len(raw)}", file=sys.stderr)
    sys.stdout.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in kept))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
