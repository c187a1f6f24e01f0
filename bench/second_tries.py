"""Which replies the client asks again (ftpack.anchor), replayed on every saved benchmark's replies.

    python bench/second_tries.py

No model runs. Each bench/reports/*/report.json holds the first reply to every request of the
shipped sets (hand-written, held-out). A client asks a reply again, under the request's anchored
schema, when `anchor.needs_second_try` says it is malformed or holds a value its request does
not. Replayed on all of them, this counts:
  - the replies it would ask again, and how many of those the scorer takes for right: that must
    stay 0, or a second try could turn a right reply wrong;
  - the wrong replies, and the share of them it would ask again: the most second tries can fix;
and, for the reports whose client already asked anchored second tries (those with the
client's `wall_ms`), what the second tries made of the replies: wrong -> right, wrong -> wrong,
right -> wrong. Writes bench/reports/second-tries.{json,md}.
"""

from __future__ import annotations

import collections
import json

from _report import REPORTS, write_report


def replayed(report_paths: list) -> dict:
    from ftpack import anchor
    from ftpack.evalsets import SHIPPED_SETS
    from ftpack.score import load_cases, score_reply

    cases = {name: {c.id: c for c in load_cases(path)} for name, path in SHIPPED_SETS.items()}
    counts: collections.Counter = collections.Counter()
    outcomes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    right_asked: collections.Counter = collections.Counter()
    for path in report_paths:
        for name, one in json.loads(path.read_text()).get("sets", {}).items():
            if name not in cases:
                continue
            anchored_client = "wall_ms" in one["accuracy"].get("with_client", {})
            for request in one["requests"]:
                case = cases[name].get(request["id"])
                if case is None or request.get("cut"):
                    continue
                right = score_reply(case, request["reply"]).correct
                asked = anchor.needs_second_try(case.request, request["reply"], case.today)
                counts["replies"] += 1
                counts["wrong"] += not right
                counts["asked again"] += asked
                counts["asked again, wrong as they stand"] += asked and not right
                if asked and right:
                    right_asked[f"{case.request} -> {request['reply']}"] += 1
                if anchored_client and "retry_reply" in request:
                    after = score_reply(case, request["retry_reply"]).correct
                    key = f"{'right' if right else 'wrong'} -> {'right' if after else 'wrong'}"
                    outcomes[path.parent.name][key] += 1
    return {
        "reports": len(report_paths),
        "replies to shipped-set requests (not cut at the token cap)": counts["replies"],
        "wrong replies": counts["wrong"],
        "replies a client asks again": counts["asked again"],
        "of them wrong as they stand": counts["asked again, wrong as they stand"],
        "right replies asked again (must be 0)": sum(right_asked.values()),
        "right replies asked again (request -> reply: times)": dict(right_asked),
        "share of wrong replies asked again": round(counts["asked again, wrong as they stand"] / max(counts["wrong"], 1), 4),
        "anchored second tries, by report (first -> second)": {name: dict(c) for name, c in sorted(outcomes.items())},
    }


def main() -> None:
    paths = sorted(REPORTS.glob("*/report.json"))
    write_report("second-tries", "The client's anchored second tries, replayed on saved replies", replayed(paths))


if __name__ == "__main__":
    main()
