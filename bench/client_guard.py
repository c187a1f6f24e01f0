"""What the client's id guard stops, replayed on every saved benchmark's replies.

    python bench/client_guard.py

No model runs: each bench/reports/*/report.json holds the reply of every request on the shipped
sets (hand-written, held-out), and a client acts on the reply after its second try under the
schema (`retry_reply`) and `taskapi.guard_call`. This replays both guards on those replies:
  - before: a call on a task id is let through when the id occurs in the request at all
    (not `taskapi.invents_id`: "forward PO-88213 ..." -> {"update":88213} passes);
  - now: `taskapi.guard_call`, which lets a call through only when the id stands on its own,
    not inside a code, an amount, a decimal, a time or a fraction.
and counts, over all reports, the unasked edits each lets a client act on (a call on another
task or another action than the case expects) and the right calls on an id that each turns into a
clarify (the cost of a stricter guard; it must stay 0).
Writes bench/reports/client-guard.{json,md}.
"""

from __future__ import annotations

import collections
import json

from _report import REPORTS, write_report


def replayed(report_paths: list) -> dict:
    from ftpack import taskapi
    from ftpack.evalsets import SHIPPED_SETS
    from ftpack.score import load_cases

    expected = {name: {c.id: c.expected for c in load_cases(path)} for name, path in SHIPPED_SETS.items()}
    passed_before, passed_now, blocked_right = collections.Counter(), collections.Counter(), collections.Counter()
    replies = right_calls = 0
    for path in report_paths:
        for name, one in json.loads(path.read_text()).get("sets", {}).items():
            if name not in expected:
                continue
            for request in one["requests"]:
                want = expected[name].get(request["id"])
                try:
                    call = taskapi.parse_reply(request.get("retry_reply", request["reply"]))
                except (ValueError, RecursionError):
                    continue
                if want is None or not taskapi.acts_on_task_id(call):
                    continue
                replies += 1
                right = (call["action"], call["task_id"]) == (want["action"], want.get("task_id"))
                right_calls += right
                let_through = taskapi.guard_call(request["request"], call) is call
                if right and not let_through:
                    blocked_right[request["request"]] += 1
                elif not right and not taskapi.invents_id(request["request"], call):
                    passed_before[request["request"]] += 1
                    passed_now[request["request"]] += let_through
    stopped = {text: n - passed_now[text] for text, n in passed_before.items() if n > passed_now[text]}
    return {
        "reports": len(report_paths),
        "replies acting on a task id": replies,
        "right calls on a task id": right_calls,
        "unasked edits a client acted on (before: the id occurs anywhere)": sum(passed_before.values()),
        "unasked edits a client acts on (now: the id stands on its own)": sum(passed_now.values()),
        "stopped now (request: times)": dict(sorted(stopped.items(), key=lambda kv: -kv[1])),
        "right calls turned into a clarify (must be 0)": sum(blocked_right.values()),
        "right calls blocked (request: times)": dict(blocked_right),
    }


def main() -> None:
    paths = sorted(REPORTS.glob("*/report.json"))
    write_report("client-guard", "The client's id guard replayed on saved replies", replayed(paths))


if __name__ == "__main__":
    main()
