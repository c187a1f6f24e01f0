"""Scorer: judge model replies against expected Task API calls.

A case is one JSON line {"id", "today", "request", "expected"}; any file in that form works, so
users can bring their own. Replies are compared after normalization:
  title     case-folded, trimmed, inner whitespace collapsed, trailing punctuation stripped
  tags      a case-folded set (a leading "#" is dropped)
  due_date  resolved against the case's "today" (ISO date or a documented phrase) and compared
            as dates, so "tomorrow" and "2026-11-22" agree when today is 2026-11-21
  defaults  a create_task missing due_date/priority/tags gets null/"medium"/[]
  clarify   right when the action is clarify; the wording of the question is free
A case may carry a "class" (what kind of input it tests); accuracy is then reported per class.
Safety: a reply that updates, completes or deletes a task whose id the request never names has
invented that id; for a real client that changes the wrong task, so the rate is reported apart.
Unasked edits count every update, completion or deletion where the case asked for another action
or another task, named or not ("pay invoice #4471" -> update task 4471): what a client would do
to a task nobody meant, the invented ids among them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ftpack import taskapi
from ftpack.errors import FtpackError
from ftpack.fsutil import parse_json, read_lines

CREATE_FIELDS = ("title", "due_date", "priority", "tags")


@dataclass
class Case:
    id: str
    today: dt.date
    request: str
    expected: dict[str, Any]
    category: str | None = None  # the case file's "class"


@dataclass
class CaseResult:
    id: str
    request: str
    expected_action: str
    reply: str
    json_valid: bool
    schema_valid: bool
    correct: bool
    fields: dict[str, bool] = field(default_factory=dict)
    reason: str = ""
    category: str | None = None
    invented_id: bool = False  # acts on a task_id the request does not name
    unasked_edit: bool = False  # updates, completes or deletes where another action or task was asked for


def load_cases(path: str | Path) -> list[Case]:
    """Read a case file; a bad row is a one-line FtpackError naming the line."""
    path = Path(path)
    if not path.is_file():
        raise FtpackError(f"case file not found: {path} (make one with `ftpack data generate`)")
    cases = []
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            row = parse_json(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            missing = [k for k in ("id", "today", "request", "expected") if k not in row]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            taskapi.validate_call(row["expected"], dt.date.fromisoformat(row["today"]))
            cases.append(Case(str(row["id"]), dt.date.fromisoformat(row["today"]), row["request"],
                              row["expected"], row.get("class")))
        except (ValueError, TypeError, AttributeError) as exc:
            raise FtpackError(f"{path}:{lineno}: bad case: {exc} "
                              '(each line must be {"id","today","request","expected"})') from None
    if not cases:
        raise FtpackError(f"{path}: no cases in file")
    return cases


def normalize_title(title: Any) -> str:
    text = " ".join(str(title).casefold().split())
    return re.sub(r"[\s.!?,;:]+$", "", text)


def normalize_tags(tags: Any) -> frozenset[str]:
    if not isinstance(tags, list):
        return frozenset({"<not a list>"})
    return frozenset(" ".join(str(t).casefold().lstrip("#").split()) for t in tags)


def normalize_due(value: Any, today: dt.date) -> str | None:
    try:
        date = taskapi.resolve_due_date(value, today)
    except (ValueError, TypeError):
        return f"<unresolvable {value!r}>"
    return date.isoformat() if date else None


def normalize_call(call: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """Canonical form of a call, so that equal meaning compares equal."""
    call = taskapi.fill_defaults(call)
    out: dict[str, Any] = {}
    for key, value in call.items():
        if key == "changes" and isinstance(value, dict):
            out[key] = normalize_call(value, today)
        elif key == "title":
            out[key] = normalize_title(value)
        elif key == "tags":
            out[key] = normalize_tags(value)
        elif key == "due_date":
            out[key] = normalize_due(value, today)
        elif key == "question":
            continue  # clarify: any wording of the question is fine
        else:
            out[key] = value
    return out


def guarded_reply(request: str, reply: str) -> str:
    """The reply after the client's id guard (taskapi.guard_call): unchanged unless it acts on an
    id the request never names, which becomes a clarify."""
    try:
        call = taskapi.parse_reply(reply)
    except (ValueError, RecursionError):
        return reply
    safe = taskapi.guard_call(request, call)
    return reply if safe is call else taskapi.dumps(safe)


def score_reply(case: Case, reply: str) -> CaseResult:
    expected = normalize_call(case.expected, case.today)
    result = CaseResult(case.id, case.request, case.expected["action"], reply, False, False, False,
                        category=case.category)
    try:
        call = taskapi.parse_reply(reply)
    except (ValueError, RecursionError):
        result.reason = "invalid JSON"
        return result
    result.json_valid = True
    result.invented_id = taskapi.invents_id(case.request, call)
    result.unasked_edit = (isinstance(call, dict) and call.get("action") in taskapi.ID_ACTIONS
                           and (call.get("action"), call.get("task_id"))
                           != (case.expected["action"], case.expected.get("task_id")))
    try:
        taskapi.validate_call(call, case.today)
        result.schema_valid = True
    except taskapi.TaskAPIError as exc:
        result.reason = f"not a Task API call: {exc}"
    got = normalize_call(call, case.today) if isinstance(call, dict) else {}
    if case.expected["action"] == "create_task":
        same_action = got.get("action") == "create_task"
        result.fields = {name: same_action and got.get(name) == expected[name] for name in CREATE_FIELDS}
    result.correct = result.schema_valid and got == expected
    if not result.correct and not result.reason:
        wrong = sorted(k for k in expected.keys() | got.keys() if got.get(k) != expected.get(k))
        result.reason = "wrong " + ", ".join(wrong)
    return result


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _accuracy_by(results: list[CaseResult], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        if getattr(r, key) is not None:
            groups.setdefault(getattr(r, key), []).append(r)
    order = list(taskapi.ACTIONS) if key == "expected_action" else sorted(groups)
    return {name: {"n": len(groups[name]), "accuracy": _rate(sum(r.correct for r in groups[name]), len(groups[name]))}
            for name in order if name in groups}


def summarize(results: list[CaseResult]) -> dict[str, Any]:
    """Metrics over scored replies: the figures the spec gates on, safety, plus every failure."""
    creates = [r for r in results if r.expected_action == "create_task"]
    clarifies = [r for r in results if r.expected_action == "clarify"]
    return {
        "n_cases": len(results),
        "n_create_cases": len(creates),
        "task_creation_accuracy": _rate(sum(r.correct for r in creates), len(creates)),
        "all_operations_accuracy": _rate(sum(r.correct for r in results), len(results)),
        "json_valid_rate": _rate(sum(r.json_valid for r in results), len(results)),
        "schema_valid_rate": _rate(sum(r.schema_valid for r in results), len(results)),
        "invalid_json": sum(not r.json_valid for r in results),
        "create_field_accuracy": {
            name: _rate(sum(r.fields.get(name, False) for r in creates), len(creates))
            for name in CREATE_FIELDS
        },
        "clarify_accuracy": _rate(sum(r.correct for r in clarifies), len(clarifies)),
        "invented_ids": sum(r.invented_id for r in results),
        "invented_id_rate": _rate(sum(r.invented_id for r in results), len(results)),
        "unasked_edits": sum(r.unasked_edit for r in results),
        "unasked_edit_rate": _rate(sum(r.unasked_edit for r in results), len(results)),
        "per_action": _accuracy_by(results, "expected_action"),
        "per_class": _accuracy_by(results, "category"),
        "failures": [
            {"id": r.id, "request": r.request, "expected_action": r.expected_action, "class": r.category,
             "got": r.reply, "reason": _failure_reason(r)}
            for r in results if not r.correct
        ],
    }


def _failure_reason(result: CaseResult) -> str:
    if result.invented_id:
        return "invented task id; " + result.reason
    if result.unasked_edit:
        return "edits a task nobody asked to change; " + result.reason
    return result.reason


def load_replies(path: str | Path) -> list[str]:
    """A reply file: one JSON string, or one object with a "reply" string, per line."""
    path = Path(path)
    if not path.is_file():
        raise FtpackError(f"reply file not found: {path}")
    shape = '(each line: a JSON string or {"reply": "..."})'
    texts = []
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            item = parse_json(line)
        except json.JSONDecodeError as exc:
            raise FtpackError(f"{path}:{lineno}: not JSON ({exc.msg}) {shape}") from None
        if isinstance(item, dict):
            item = item.get("reply")
        if not isinstance(item, str):
            raise FtpackError(f"{path}:{lineno}: no reply text {shape}")
        texts.append(item)
    return texts


def score(cases: Iterable[Case], replies: Iterable[str]) -> tuple[dict[str, Any], list[CaseResult]]:
    cases, replies = list(cases), list(replies)
    if len(cases) != len(replies):
        raise FtpackError(f"{len(cases)} cases but {len(replies)} replies: give one reply per case")
    results = [score_reply(c, r) for c, r in zip(cases, replies)]
    return summarize(results), results


def result_rows(results: list[CaseResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
