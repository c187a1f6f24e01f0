"""Check a user's dataset row by row, and turn other common formats into chat form.

Accepted rows (JSON Lines):
  chat               {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}
  prompt/completion  {"prompt": str, "completion": str}
  Alpaca             {"instruction": str, "input": str (optional), "output": str}
A chat conversation is an optional system message, then user/assistant turns alternating, ending
with an assistant turn. `convert` turns the other two forms into chat form.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ftpack import taskapi
from ftpack.errors import FtpackError
from ftpack.fsutil import parse_json, read_lines, write_text_atomic

ROW_FORMATS = ("chat", "prompt/completion", "alpaca")
_TODAY_RE = re.compile(r"Today is (\d{4}-\d{2}-\d{2})")


class RowError(ValueError):
    pass


@dataclass
class Problem:
    line: int
    reason: str


def row_format(row: Any) -> str:
    if not isinstance(row, dict):
        raise RowError("row is not a JSON object")
    if "messages" in row:
        return "chat"
    if "prompt" in row or "completion" in row:
        return "prompt/completion"
    if "instruction" in row or "output" in row:
        return "alpaca"
    raise RowError('unknown row format: expected "messages", "prompt"/"completion", '
                   'or "instruction"/"output" keys')


def _text(row: dict[str, Any], key: str, required: bool = True) -> str:
    value = row.get(key, None if required else "")
    if value is None:
        raise RowError(f'missing "{key}"')
    if not isinstance(value, str):
        raise RowError(f'"{key}" must be a string')
    if required and not value.strip():
        raise RowError(f'empty "{key}"')
    return value


def to_messages(row: Any) -> list[dict[str, str]]:
    """The row's conversation as chat messages; raises RowError naming what is wrong."""
    fmt = row_format(row)
    if fmt == "chat":
        messages = row["messages"]
        check_messages(messages)
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    if fmt == "prompt/completion":
        messages = [{"role": "user", "content": _text(row, "prompt")},
                    {"role": "assistant", "content": _text(row, "completion")}]
    else:
        instruction, extra = _text(row, "instruction"), _text(row, "input", required=False)
        user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": _text(row, "output")}]
    return messages


def check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise RowError('"messages" must be a non-empty list')
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise RowError(f"message {i}: needs role and content")
        if m["role"] not in ("system", "user", "assistant"):
            raise RowError(f"message {i}: unknown role {m['role']!r} (use system, user or assistant)")
        if not isinstance(m["content"], str) or not m["content"].strip():
            raise RowError(f"message {i} ({m['role']}): empty content")
    roles = [m["role"] for m in messages]
    turns = roles[1:] if roles[0] == "system" else roles
    for i, role in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            where = i + (len(roles) - len(turns))
            raise RowError(f"message {where}: role {role!r} where {expected!r} belongs "
                           "(optional system, then user/assistant alternating)")
    if not turns or turns[-1] != "assistant":
        raise RowError("conversation must end with an assistant message")


def check_taskapi(messages: list[dict[str, str]]) -> None:
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    found = _TODAY_RE.search(system)
    today = dt.date.fromisoformat(found.group(1)) if found else dt.date.today()
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        try:
            taskapi.validate_call(taskapi.parse_reply(m["content"]), today)
        except json.JSONDecodeError:
            raise RowError(f"message {i} (assistant): reply is not valid JSON") from None
        except taskapi.TaskAPIError as exc:
            raise RowError(f"message {i} (assistant): not a Task API reply: {exc}") from None


def iter_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed row); a line that is not JSON yields a RowError as its row."""
    if not path.is_file():
        raise FtpackError(f"dataset file not found: {path}")
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            yield lineno, parse_json(line)
        except json.JSONDecodeError as exc:
            yield lineno, RowError(f"bad JSON: {exc.msg} at column {exc.colno}")


def validate_file(path: str | Path, schema: str | None = None) -> tuple[int, list[Problem]]:
    """Return (rows read, problems); every bad row is reported, not just the first."""
    if schema not in (None, "taskapi"):
        raise FtpackError(f"unknown schema {schema!r}: the only schema is 'taskapi'")
    rows, problems = 0, []
    for lineno, row in iter_rows(Path(path)):
        rows += 1
        try:
            if isinstance(row, RowError):
                raise row
            messages = to_messages(row)
            if schema == "taskapi":
                check_taskapi(messages)
        except RowError as exc:
            problems.append(Problem(lineno, str(exc)))
    if rows == 0:
        problems.append(Problem(0, "file has no rows"))
    return rows, problems


def load_chat_rows(path: str | Path) -> list[list[dict[str, str]]]:
    """Every conversation in a dataset file, or one FtpackError listing the first bad rows."""
    rows, problems = [], []
    for lineno, row in iter_rows(Path(path)):
        try:
            if isinstance(row, RowError):
                raise row
            rows.append(to_messages(row))
        except RowError as exc:
            problems.append(Problem(lineno, str(exc)))
    if problems:
        first = "; ".join(f"line {p.line}: {p.reason}" for p in problems[:3])
        raise FtpackError(f"{path}: {len(problems)} bad row(s): {first} (check with `ftpack data validate`)")
    if not rows:
        raise FtpackError(f"{path}: no rows")
    return rows


def convert_file(src: str | Path, dst: str | Path, system: str | None = None) -> int:
    """Write src (any accepted format) as chat JSONL to dst; refuses if any row is bad."""
    conversations = load_chat_rows(src)
    if system:
        conversations = [m if m[0]["role"] == "system" else [{"role": "system", "content": system}, *m]
                         for m in conversations]
    write_text_atomic(dst, "".join(json.dumps({"messages": m}, ensure_ascii=False) + "\n"
                                   for m in conversations))
    return len(conversations)
