"""Task API 2: the contract between the assistant and its client.

The assistant answers every request with exactly one JSON object (see README.md, "Task API 2").
This module owns everything both sides must agree on: the JSON Schemas, the system prompt, the
defaults a reply may leave out, the reply form and its decoding into a Task API call, and the
small grammar of date phrases that the client resolves against today's date (a 135M model copies
"next friday" reliably but cannot do calendar arithmetic).

Two shapes, on purpose:
- a *call* is what a client acts on and what evaluation cases state:
  {"action": "create_task", "title": ..., "due_date": ..., "priority": ..., "tags": [...]};
- a *reply* is what the model writes, the same call in fewer tokens: the action is the first key
  and holds its main argument ({"create": "Call the plumber", "due": "tomorrow"}, {"delete": 12}).
  Every reply token is decoded one at a time, so the reply form sets most of the latency: on the
  hand-written set it is 16.4 tokens a reply against 23.1 for the call written out (p95 25 vs 34).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

ACTIONS = ("create_task", "update_task", "complete_task", "delete_task", "list_tasks", "clarify")
PRIORITIES = ("low", "medium", "high")
STATUSES = ("open", "done")
CREATE_DEFAULTS: dict[str, Any] = {"due_date": None, "priority": "medium", "tags": []}

CONTRACT_VERSION = "2.0"  # 2.0: the short reply form; 1.1: no date in the system prompt
# One constant prompt: no date in it (the model copies date phrases and the client resolves them
# against its own today), so every request shares one prefix that Ollama keeps cached. Short on
# purpose: every prompt token costs training time.
SYSTEM_PROMPT = "Task API 2 assistant."

# The reply's first key: the action, named as the user would. It holds the action's main argument.
REPLY_VERBS = {"create_task": "create", "update_task": "update", "complete_task": "complete",
               "delete_task": "delete", "list_tasks": "list", "clarify": "clarify"}
_VERB_ACTIONS = {verb: action for action, verb in REPLY_VERBS.items()}
_MAIN_ARGUMENT = {"create_task": "title", "update_task": "task_id", "complete_task": "task_id",
                  "delete_task": "task_id", "clarify": "question"}


# Actions that change one existing task: acting on a guessed id changes the wrong task.
ID_ACTIONS = ("update_task", "complete_task", "delete_task")
# What to ask instead when a request names no id; short on purpose (every reply token costs latency).
ASK_FOR_ID = {"delete_task": "Which task id should I delete?", "complete_task": "Which task id is done?",
              "update_task": "Which task id should I change?"}


def names_task_id(request: str, task_id: Any) -> bool:
    """Whether the request contains the id as a number of its own ("#12", "task 12", "12's")."""
    return re.search(rf"(?<!\d){re.escape(str(task_id))}(?!\d)", request) is not None


def acts_on_task_id(call: Any) -> bool:
    """Whether the call changes one existing task picked by its task_id (update, complete, delete)."""
    return isinstance(call, dict) and call.get("action") in ID_ACTIONS and "task_id" in call


def invents_id(request: str, call: Any) -> bool:
    """A call on a task_id that the request never names: the model guessed it."""
    return acts_on_task_id(call) and not names_task_id(request, call["task_id"])


# A number glued to a code, an amount, a decimal, a time or a fraction ("PO-88213", "$250", "3.12",
# "10am", "3/4"), or one group of a phone number ("0800 123 456"), is part of something else: a model
# that acts on it edits a task nobody meant. "no.12" ("No.12") is the one glued form that is an id.
_NUMBER_ON_ITS_OWN = r"(?:(?<=[Nn]o\.)|(?<![\w.\-/£$€]))(?<!\d\d\d ){}(?![\w/%€£]|[.,:]\d|-\w| \d\d\d)"


def names_id_on_its_own(request: str, task_id: Any) -> bool:
    """Whether the request names the id as a number standing alone ("#12", "task 12", "12's"), not
    inside a code, an amount or a time: what a client asks about before acting on it."""
    return re.search(_NUMBER_ON_ITS_OWN.format(re.escape(str(task_id))), request) is not None


def guard_call(request: str, call: Any) -> Any:
    """What a client should act on: a call on an id the request never names, or names only inside
    a code, an amount or a time, becomes the clarify the assistant should have asked. A wrong
    action is worse than no action; asking is always safe."""
    if acts_on_task_id(call) and not names_id_on_its_own(request, call["task_id"]):
        return {"action": "clarify", "question": ASK_FOR_ID[call["action"]]}
    return call


@lru_cache(maxsize=2)
def _schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("ftpack").joinpath(f"schemas/{name}").read_text("utf-8"))


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a Task API call (ftpack/schemas/taskapi-v1.schema.json)."""
    return _schema("taskapi-v1.schema.json")


def reply_schema() -> dict[str, Any]:
    """The JSON Schema of the assistant's reply (ftpack/schemas/taskapi-reply-v2.schema.json): what
    constrains decoding (Ollama's `format`, a llama.cpp grammar)."""
    return _schema("taskapi-reply-v2.schema.json")


def reply_object(call: dict[str, Any]) -> dict[str, Any]:
    """A call in the reply form: the action as the first key holding its main argument, the other
    fields after it (due_date written "due"), a create's defaults left out."""
    call = strip_defaults(call)
    action = call.get("action")
    if action not in REPLY_VERBS:
        raise TaskAPIError(f"action must be one of {', '.join(ACTIONS)} (got {action!r})")
    main = _MAIN_ARGUMENT.get(action)
    reply: dict[str, Any] = {REPLY_VERBS[action]: call[main] if main else True}
    rest = {k: v for k, v in call.items() if k not in ("action", main)}
    changes = rest.pop("changes", {})
    for key, value in {**rest, **changes}.items():
        reply["due" if key == "due_date" else key] = value
    return reply


def dumps(call: dict[str, Any]) -> str:
    """The reply text the assistant is trained to write for a call: compact JSON in the reply form."""
    return json.dumps(reply_object(call), ensure_ascii=False, separators=(",", ":"))


def call_from_reply(reply: Any) -> Any:
    """Decode a reply object into the Task API call it stands for.

    A 1.x reply (a call written out, with "action") is returned as it is, so models trained on
    earlier contracts still score. Anything that is not one reply verb plus its fields is returned
    unchanged too: validate_call then says what is wrong with it.
    """
    if not isinstance(reply, dict) or "action" in reply:
        return reply
    verbs = [key for key in reply if key in _VERB_ACTIONS]
    if len(verbs) != 1:
        return reply
    action = _VERB_ACTIONS[verbs[0]]
    fields = {"due_date" if k == "due" else k: v for k, v in reply.items() if k != verbs[0]}
    call: dict[str, Any] = {"action": action}
    if action == "list_tasks":
        if reply[verbs[0]] is not True:
            call["list"] = reply[verbs[0]]  # left for validate_call to reject
        return {**call, **fields}
    call[_MAIN_ARGUMENT[action]] = reply[verbs[0]]
    if action == "update_task":
        call["changes"] = fields
        return call
    return {**call, **fields}


def resolved_call(call: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """A call as a case file states it: defaults filled in and due dates resolved to ISO dates."""
    resolved = fill_defaults(call)
    if "changes" in resolved:
        resolved["changes"] = dict(resolved["changes"])
    for holder in (resolved, resolved.get("changes")):
        if isinstance(holder, dict) and isinstance(holder.get("due_date"), str):
            holder["due_date"] = resolve_due_date(holder["due_date"], today).isoformat()
    return resolved


def strip_defaults(call: dict[str, Any]) -> dict[str, Any]:
    if call.get("action") != "create_task":
        return dict(call)
    return {k: v for k, v in call.items() if not (k in CREATE_DEFAULTS and v == CREATE_DEFAULTS[k])}


def fill_defaults(call: dict[str, Any]) -> dict[str, Any]:
    if call.get("action") != "create_task":
        return dict(call)
    filled = {**CREATE_DEFAULTS, **call}
    order = ("action", "title", *CREATE_DEFAULTS)
    return {k: filled[k] for k in sorted(filled, key=lambda k: order.index(k) if k in order else len(order))}


# ---------------------------------------------------------------------------------------------
# Date phrases. A due_date is an ISO date or one of these phrases (case-insensitive), resolved
# against the request's "today":
#   today | tonight | this morning | this afternoon | this evening        -> today
#   tomorrow | tomorrow morning/afternoon/evening/night                    -> today + 1
#   day after tomorrow | the day after tomorrow                            -> today + 2
#   WEEKDAY | this WEEKDAY | next WEEKDAY  (monday..sunday, mon..sun)      -> the first such day
#                                                                             after today (1-7 days)
#   next week                                                              -> today + 7
#   in N days | in N weeks   (N = digits, "a"/"an", or one..twelve)        -> today + N (weeks: 7N)
#   end of the month | end of month | end of this month                     -> last day of the month
#   MONTH DAY [YEAR] | DAY MONTH [YEAR]  ("dec 1", "December 1st, 2027",    -> that date; without a
#       "1 dec", "the 1st of december")                                       year, the next one on
#                                                                             or after today
# Slang spellings of a word (SLANG_SPELLINGS: "tmrw", "tonite", ...) read as the word: the model is
# trained to write the standard phrase, but one it copies as typed still means that day.
# ---------------------------------------------------------------------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}

# What people type for a date word, by the word: the generator writes these into requests, and the
# resolver reads them in a due_date as the word itself.
SLANG_SPELLINGS = {"tomorrow": ("tmrw", "tmr", "2moro", "tomoz"), "tonight": ("tonite", "2nite")}
_STANDARD_SPELLING = {slang: word for word, spellings in SLANG_SPELLINGS.items() for slang in spellings}


def standard_spelling(word: str) -> str:
    """A date word as the model is trained to write it: "tmrw" -> "tomorrow"; other words unchanged."""
    return _STANDARD_SPELLING.get(word.casefold(), word)


_WEEKDAY_RE = "|".join(sorted({*WEEKDAYS, *(d[:3] for d in WEEKDAYS), "tues", "thur", "thurs"},
                              key=len, reverse=True))
_MONTH_RE = "|".join(sorted({*MONTHS, *(m[:3] for m in MONTHS), "sept"}, key=len, reverse=True))
_ORD = r"(\d{1,2})(?:st|nd|rd|th)?"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PATTERNS = {
    "today": re.compile(r"^(today|tonight|this (morning|afternoon|evening))$"),
    "tomorrow": re.compile(r"^tomorrow( (morning|afternoon|evening|night))?$"),
    "after_tomorrow": re.compile(r"^(the )?day after tomorrow$"),
    "weekday": re.compile(rf"^(?:(?:this|next|on) )?({_WEEKDAY_RE})$"),
    "next_week": re.compile(r"^next week$"),
    "in_n": re.compile(rf"^in (\d+|{'|'.join(NUMBER_WORDS)}) (day|week)s?$"),
    "end_of_month": re.compile(r"^(the )?end of (the |this )?month$"),
    "month_day": re.compile(rf"^({_MONTH_RE})\.? {_ORD}(?:,? (\d{{4}}))?$"),
    "day_month": re.compile(rf"^(?:the )?{_ORD} (?:of )?({_MONTH_RE})\.?(?:,? (\d{{4}}))?$"),
}


def _month_number(name: str) -> int:
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(name[:3]))


def _next_date_on_or_after(today: dt.date, month: int, day: int) -> dt.date | None:
    for year in (today.year, today.year + 1, today.year + 2, today.year + 3, today.year + 4):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:  # Feb 29 in a non-leap year, or "april 31"
            continue
        if candidate >= today:
            return candidate
    return None


def _dated(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def resolve_due_date(value: str | None, today: dt.date) -> dt.date | None:
    """Turn a due_date (ISO date or documented phrase) into a date; None for null.

    Raises ValueError for anything else, so callers can tell "no date" from "bad date".
    """
    if value is None:
        return None
    text = " ".join(standard_spelling(word) for word in str(value).strip().lower().split())
    if _ISO.match(text):
        return dt.date.fromisoformat(text)
    p = _PATTERNS
    if p["today"].match(text):
        return today
    if p["tomorrow"].match(text):
        return today + dt.timedelta(days=1)
    if p["after_tomorrow"].match(text):
        return today + dt.timedelta(days=2)
    if m := p["weekday"].match(text):
        target = next(i for i, d in enumerate(WEEKDAYS) if d.startswith(m.group(1)[:3]))
        return today + dt.timedelta(days=(target - today.weekday() - 1) % 7 + 1)
    if p["next_week"].match(text):
        return today + dt.timedelta(days=7)
    if m := p["in_n"].match(text):
        n = int(m.group(1)) if m.group(1).isdigit() else NUMBER_WORDS[m.group(1)]
        return today + dt.timedelta(days=n * (7 if m.group(2) == "week" else 1))
    if p["end_of_month"].match(text):
        return today.replace(day=calendar.monthrange(today.year, today.month)[1])
    for key, month_group, day_group, year_group in (("month_day", 1, 2, 3), ("day_month", 2, 1, 3)):
        if m := p[key].match(text):
            month, day = _month_number(m.group(month_group)), int(m.group(day_group))
            date = (_dated(int(m.group(year_group)), month, day) if m.group(year_group)
                    else _next_date_on_or_after(today, month, day))
            if date is None:
                raise ValueError(f"no such date: {value!r}")
            return date
    raise ValueError(f"not an ISO date or a known date phrase: {value!r}")


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


class TaskAPIError(ValueError):
    """A reply that is JSON but not a valid Task API call."""


def _schema_errors(call: Any) -> list:
    import jsonschema  # imported here: only validation needs it

    validator = jsonschema.Draft202012Validator(json_schema())
    return sorted(validator.iter_errors(call), key=lambda e: e.path)


def validate_call(call: Any, today: dt.date | None = None) -> None:
    """Check a parsed reply against the JSON Schema and the date grammar; raise TaskAPIError."""
    errors = _schema_errors(call)
    if errors:
        raise TaskAPIError(_describe_schema_error(call, errors))
    for due in _due_dates(call):
        try:
            resolve_due_date(due, today or dt.date.today())
        except ValueError as exc:
            raise TaskAPIError(f"due_date: {exc}") from None


def _due_dates(call: dict[str, Any]) -> list[str]:
    found = [call.get("due_date"), (call.get("changes") or {}).get("due_date")]
    return [d for d in found if isinstance(d, str)]


def _describe_schema_error(call: Any, errors: list) -> str:
    # oneOf errors are unreadable ("is not valid under any of the given schemas"): say what the
    # action's own branch wants instead.
    if not isinstance(call, dict):
        return "reply is not a JSON object"
    action = call.get("action")
    if action is None:
        verbs = [key for key in call if key in _VERB_ACTIONS]
        return (f"a reply has exactly one action key ({', '.join(REPLY_VERBS.values())}); "
                f"got {', '.join(verbs) if verbs else 'none'} among keys {', '.join(map(str, call)) or '(none)'}")
    if action not in ACTIONS:
        return f"action must be one of {', '.join(ACTIONS)} (got {action!r})"
    import jsonschema

    branch = next(s for s in json_schema()["oneOf"] if s["properties"]["action"]["const"] == action)
    sub = [e for e in jsonschema.Draft202012Validator(branch).iter_errors(call)]
    if not sub:
        return errors[0].message
    err = sub[0]
    where = ".".join(str(p) for p in err.path)
    return f"{action}: {where + ': ' if where else ''}{err.message}"


def well_formed(reply: str) -> bool:
    """Whether the reply is JSON that stands for a call of the Task API schema.

    A client that gets False asks again with decoding constrained by a schema (Ollama's `format`;
    `anchor.needs_second_try` asks this first): the model's rare malformed replies (an apostrophe
    or colon in a title taken for the end of a string) then come out well-formed, and well-formed
    replies never pay for the constraint. A due phrase no client can resolve is well-formed (the
    reply schema allows any string): `validate_call` reports it, and `anchor.needs_second_try`
    asks again for it under a schema that holds only the request's date phrases.
    """
    try:
        call = parse_reply(reply)
    except (ValueError, RecursionError):
        return False
    return not _schema_errors(call)


def parse_reply(text: str) -> Any:
    """Parse a model reply into the Task API call it stands for (call_from_reply): surrounding
    whitespace and a ```json fence are tolerated.

    Raises json.JSONDecodeError (a ValueError) when the text is not JSON.
    """
    body = text.strip()
    fence = re.match(r"^```(?:json|JSON)?\s*\n?(.*?)\n?```$", body, re.S)
    if fence:
        body = fence.group(1).strip()
    return call_from_reply(json.loads(body))
