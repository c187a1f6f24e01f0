"""Request-anchored replies: what a reply may hold, read off the request it answers.

Nearly every value in a Task API reply is copied from the request: a title is a run of its words
(less a date phrase inside the run, less the quotes around it, first letter capitalized), a due
date is a date phrase in it, tags are its words, an edited id is a number standing alone in it.
A 135M model copies well but not always: now and then it writes a word that is not there
("Mulish the rose beds" for "mulch"), drops one from the middle ("Send the signed NDA to legal"),
writes a date phrase no client can resolve, or edits an id the request never names.

`anchored(request, call, today)` tells whether a call holds only values the request holds, and
`anchored_schema(request)` is the reply's JSON Schema narrowed to those values: a title `pattern`
that only a run of the request's words matches, the request's date phrases, words and ids as
`enum`s. A client asks again under that schema (Ollama's `format`, a llama.cpp grammar) only when
the free reply is not anchored, so anchored replies never pay for the constraint. Under it an
invented id cannot be written at all: a request that names no id has no update, complete or
delete branch.

The title pattern is a regex both Python and llama.cpp's JSON-Schema converter read the same way:
plain groups, `|`, `?`, one-character classes, and backslash escapes only for the characters the
converter unescapes (it has no `(?:` and takes other escapes into the grammar literally).
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from functools import lru_cache
from typing import Any

from ftpack import taskapi
from ftpack.score import normalize_tags, normalize_title

# Characters a word may carry around its core that a title leaves out: quotes, brackets, and the
# punctuation that ends a clause ("tin," in "reconcile the petty cash tin, label it finance").
_LEADING = "\"'“‘([{<*"
_TRAILING = "\"'”’)]}>*.,!?;:"
_REGEX_ESCAPED = set("[]()|{}*+?")  # escaped with a backslash, which the converter unescapes
MAX_TITLE_WORDS = 40  # longer runs are no title; the cap bounds the pattern (words x this)
MAX_DATE_WORDS = 6  # "the 1st of december, 2027" is the longest date phrase


def _literal(text: str) -> str:
    out = []
    for char in text:
        if char in _REGEX_ESCAPED:
            out.append("\\" + char)
        elif char in ".^$":
            out.append(f"[{char}]")  # the converter has no escape for these; a class works in both
        else:
            out.append(char)
    return "".join(out)


def _usable(word: str) -> bool:
    # a backslash or a control character has no literal form the converter passes through
    return bool(word) and "\\" not in word and word.isprintable()


def _split_edges(word: str) -> tuple[str, str, str]:
    core = word.lstrip(_LEADING)
    lead = word[:len(word) - len(core)]
    stripped = core.rstrip(_TRAILING)
    return lead, stripped, core[len(stripped):]


def _word_regex(word: str, first: bool = False) -> str:
    """One word as typed, though the quotes and brackets before it and each punctuation mark after
    it may be left out; a title's first word may have its first letter capitalized (or not)."""
    lead, core, trail = _split_edges(word)
    if not core:
        return _literal(word)
    head = core[0]
    if first and head.upper() != head.lower():
        body = f"[{head.upper()}{head.lower()}]" + _literal(core[1:])
    else:
        body = _literal(core)
    return (f"({_literal(lead)})?" if lead else "") + body + "".join(f"({_literal(c)})?" for c in trail)


@lru_cache(maxsize=4096)
def _word_matcher(word: str, first: bool) -> Any:
    return re.compile(_word_regex(word, first)).fullmatch


def date_spans(words: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each run of words that reads as a date phrase the client resolves."""
    spans = []
    for start in range(len(words)):
        for end in range(start + 1, min(len(words), start + MAX_DATE_WORDS) + 1):
            if _resolves(_date_text(words[start:end])):
                spans.append((start, end))
    return spans


def _date_text(words: list[str]) -> str:
    return " ".join(_split_edges(w)[1] for w in words)


def _resolves(text: str) -> bool:
    # whether a phrase names a date does not hang on the day it is read: any today will do
    return _resolved(text, dt.date(2026, 1, 1)) is not None


@lru_cache(maxsize=256)
def _date_spans_of(request: str) -> tuple[tuple[int, int], ...]:
    # the check, the title pattern and the due phrases all read a request's date phrases: found once
    return tuple(date_spans(request.split()))


def _date_cuts(request: str) -> list[tuple[int, int]]:
    """Where a title may leave a date phrase out of its middle, as (the first word it leaves out,
    the first word after the phrase): the phrase alone, or with up to three words leading it in
    ("due", "by", "no later than")."""
    n_words = len(request.split())
    return [(cut, end) for start, end in _date_spans_of(request) for cut in range(start, start - 4, -1)
            if cut >= 1 and end < n_words]


def title_pattern(request: str) -> str:
    """A regex that a title matches when it is a run of the request's words, or such a run with a
    date phrase (and up to three words leading it in: "due", "by", "no later than") taken out of
    its middle."""
    words = request.split()
    usable = [_usable(w) for w in words]

    def run_from(i: int, first: bool, budget: int) -> str:
        # words[i] then, optionally, the run continuing after it: "a( b( c)?)?"
        stop = i
        while stop < len(words) and usable[stop] and stop - i < budget:
            stop += 1
        if stop == i:
            return ""
        pattern = ""
        for j in range(stop - 1, i, -1):
            pattern = f"( {_word_regex(words[j])}{pattern})?"
        return _word_regex(words[i], first) + pattern

    alternatives = [run for i in range(len(words)) if (run := run_from(i, True, MAX_TITLE_WORDS))]
    for cut, end in _date_cuts(request):
        heads = [" ".join(words[i:cut]) for i in range(max(0, cut - MAX_TITLE_WORDS), cut) if all(usable[i:cut])]
        tail = run_from(end, False, MAX_TITLE_WORDS)
        if heads and tail:
            alternatives.append("(" + "|".join(_heads_regex(heads)) + ") " + tail)
    return "^(" + "|".join(alternatives) + ")$"


def _heads_regex(heads: list[str]) -> list[str]:
    out = []
    for head in heads:
        first, *rest = head.split(" ")
        out.append(" ".join([_word_regex(first, True), *(_word_regex(w) for w in rest)]))
    return out


def due_phrases(request: str) -> list[str]:
    """The request's date phrases as typed, and lower-cased, as a reply may copy them."""
    words = request.split()
    found: dict[str, None] = {}
    for start, end in _date_spans_of(request):
        text = _date_text(words[start:end])
        if _usable(text):
            for variant in (text, text.lower()):
                found[variant] = None
    return list(found)


def tag_words(request: str) -> list[str]:
    """The words a tag may be: each word of the request, lower-cased, without '#' or punctuation."""
    found: dict[str, None] = {}
    for word in re.split(r"[\s,/()\[\]]+", request):
        core = _split_edges(word.lstrip("#"))[1].lstrip("#").casefold()
        if core and _usable(core) and any(c.isalnum() for c in core):
            found[core] = None
    return list(found)


def named_ids(request: str) -> list[int]:
    """The numbers the request names as ids: standing on their own, as the client guard wants them."""
    numbers = {int(n) for n in re.findall(r"\d+", request) if 0 < int(n) < 2**31}
    return sorted(n for n in numbers if taskapi.names_id_on_its_own(request, n))


def anchored_schema(request: str) -> dict[str, Any]:
    """The reply's JSON Schema with every value narrowed to what the request holds."""
    schema = copy.deepcopy(taskapi.reply_schema())
    title = {"type": "string", "pattern": title_pattern(request)}
    due = {"enum": [*due_phrases(request), None]}
    words = tag_words(request)
    tags = {"type": "array", "items": {"enum": words}} if words else {"const": []}
    ids = named_ids(request)
    branches = []
    for branch in schema["oneOf"]:
        props = branch["properties"]
        verb = branch["required"][0]
        if verb in ("update", "complete", "delete"):
            if not ids:
                continue  # nothing the request names can be edited: no id to invent
            props[verb] = {"enum": ids}
        if verb == "create":
            props["create"] = title
        if "title" in props:
            props["title"] = title
        if "due" in props:
            props["due"] = due if verb != "list" else {"enum": due["enum"][:-1]}
            if verb == "list" and not props["due"]["enum"]:
                del props["due"]
        if "tags" in props:
            props["tags"] = tags
        branches.append(branch)
    schema["oneOf"] = branches
    schema["title"] = "Task API 2 reply, anchored in its request"
    return schema


def anchored(request: str, call: Any, today: dt.date) -> bool:
    """Whether a call (taskapi.parse_reply's) holds only values its request holds: a title that
    is a run of its words, a due date one of its date phrases names, tags among its words, an id it
    names on its own. Anything else (a list, a clarify) is anchored. Each value is compared as the
    scorer compares it, so a call that is not anchored is wrong for every case whose expected
    call is anchored (all of them, in both shipped sets and the generated data: tests)."""
    if not isinstance(call, dict):
        return False
    fields = {**call, **(call.get("changes") if isinstance(call.get("changes"), dict) else {})}
    if call.get("action") in taskapi.ID_ACTIONS and call.get("task_id") not in named_ids(request):
        return False
    title = fields.get("title")
    if isinstance(title, str) and not is_title_of(request, title):
        return False
    due = fields.get("due_date")
    if isinstance(due, str) and _resolved(due, today) not in {_resolved(p, today) for p in due_phrases(request)}:
        return False
    tags = fields.get("tags")
    if isinstance(tags, list):
        if not all(isinstance(t, str) for t in tags) or not normalize_tags(tags) <= set(tag_words(request)):
            return False
    return True


def _resolved(phrase: str, today: dt.date) -> dt.date | None:
    try:
        return taskapi.resolve_due_date(phrase, today)
    except ValueError:
        return None


def is_title_of(request: str, title: str) -> bool:
    """Whether the title is a run of the request's words as `title_pattern` has them, compared as
    the scorer compares titles (case-folded, spacing and trailing punctuation aside), so that a
    title the scorer takes for right is never asked for again. Read word by word: a client checks
    every reply, and the pattern is only built for a second try."""
    words, said = [w.casefold() for w in request.split()], normalize_title(title).split()
    if not said or len(said) > MAX_TITLE_WORDS:
        return False
    jumps: dict[int, set[int]] = {}  # where a title may skip a date phrase: from a word leading into it, to after it
    for cut, end in _date_cuts(request):
        jumps.setdefault(cut, set()).add(end)

    def same(k: int, j: int) -> bool:
        return _usable(words[j]) and _word_matcher(words[j], False)(said[k]) is not None

    def rest_from(k: int, j: int, jumped: bool) -> bool:
        if k == len(said):
            return True
        if j < len(words) and same(k, j) and rest_from(k + 1, j + 1, jumped):
            return True
        return not jumped and any(rest_from(k, end, True) for end in jumps.get(j, ()))

    return any(same(0, i) and rest_from(1, i + 1, False) for i in range(len(words)))


def needs_second_try(request: str, reply: str, today: dt.date) -> bool:
    """What a client asks again, under `anchored_schema(request)`: a reply that is malformed, or
    whose call holds a value the request does not (a made-up word, an unresolvable date, an id
    it never names). Every expected call of the shipped sets and of the generated data is
    anchored (tests), so a reply that is not is wrong as it stands."""
    if not taskapi.well_formed(reply):
        return True
    return not anchored(request, taskapi.parse_reply(reply), today)
