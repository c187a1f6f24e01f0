import datetime as dt
import json

import pytest

from ftpack import taskapi
from ftpack.errors import FtpackError
from ftpack.score import Case, load_cases, normalize_due, normalize_tags, normalize_title, score, score_reply

TODAY = dt.date(2026, 11, 21)


def create(**fields):
    return {"action": "create_task", "title": "Call the plumber", "due_date": "2026-11-22", "priority": "high",
            "tags": ["home"], **fields}


def case(expected, id="c1"):
    return Case(id, TODAY, "remind me to call the plumber tomorrow, urgent #home", expected)


@pytest.mark.parametrize("raw, normal", [
    ("Call the Plumber", "call the plumber"),
    ("  call the plumber  ", "call the plumber"),
    ("call   the\tplumber", "call the plumber"),
    ("Call the plumber.", "call the plumber"),
    ("Call the plumber!?", "call the plumber"),
    ("STRASSE", "strasse"),
])
def test_title_normalization(raw, normal):
    assert normalize_title(raw) == normal


def test_tags_are_a_case_folded_set():
    assert normalize_tags(["Home", "#work", "home"]) == normalize_tags(["work", "HOME"])
    assert normalize_tags("home") != normalize_tags(["home"])


def test_due_dates_are_resolved_before_comparing():
    assert normalize_due("tomorrow", TODAY) == normalize_due("2026-11-22", TODAY) == "2026-11-22"
    assert normalize_due(None, TODAY) is None
    assert normalize_due("whenever", TODAY).startswith("<unresolvable")


@pytest.mark.parametrize("reply", [
    '{"create":"call the plumber.","due":"tomorrow","priority":"high","tags":["HOME"]}',
    '{"priority":"high","create":"Call the plumber","tags":["home"],"due":"Nov 22"}',  # any key order
    '{"action":"create_task","title":"call the plumber.","due_date":"tomorrow","priority":"high","tags":["HOME"]}',
    '```json\n{"action":"create_task","title":"Call the plumber","due_date":"2026-11-22","priority":"high","tags":["home"]}\n```',
    '  {"action":"create_task","title":"Call  the plumber","due_date":"Nov 22","priority":"high","tags":["#home"]}  ',
])
def test_create_reply_equal_in_meaning_is_right(reply):
    result = score_reply(case(create()), reply)
    assert result.correct, result.reason
    assert all(result.fields.values())


def test_create_defaults_are_filled_on_both_sides():
    expected = {"action": "create_task", "title": "Buy milk", "due_date": None, "priority": "medium", "tags": []}
    assert score_reply(case(expected), '{"create":"Buy milk"}').correct
    assert score_reply(case(expected), '{"action":"create_task","title":"Buy milk"}').correct
    assert score_reply(case({"action": "create_task", "title": "Buy milk"}),
                       '{"action":"create_task","title":"Buy milk","priority":"medium","tags":[],"due_date":null}').correct


def test_per_field_results_on_create():
    result = score_reply(case(create()), '{"action":"create_task","title":"Call the plumber","due_date":"friday","priority":"low"}')
    assert not result.correct
    assert result.fields == {"title": True, "due_date": False, "priority": False, "tags": False}
    assert "due_date" in result.reason and "priority" in result.reason


@pytest.mark.parametrize("expected, right, wrong", [
    ({"action": "update_task", "task_id": 4, "changes": {"priority": "high", "due_date": "2026-11-27"}},
     '{"update":4,"due":"friday","priority":"high"}', '{"update":5,"due":"friday","priority":"high"}'),
    ({"action": "update_task", "task_id": 4, "changes": {"title": "Buy milk"}},
     '{"update":4,"title":"buy milk."}', '{"update":4,"title":"buy oat milk"}'),
    ({"action": "complete_task", "task_id": 7}, '{"complete":7}', '{"delete":7}'),
    ({"action": "delete_task", "task_id": 7}, '{"delete":7}', '{"delete":8}'),
    ({"action": "list_tasks", "status": "open"}, '{"list":true,"status":"open"}', '{"list":true}'),
    ({"action": "list_tasks", "due_date": "2026-11-22"}, '{"list":true,"due":"tomorrow"}', '{"list":true,"due":"today"}'),
    ({"action": "clarify", "question": "Which task should I delete?"},
     '{"clarify":"Which one? Give me the id."}', '{"delete":1}'),
    ({"action": "delete_task", "task_id": 7}, '{"action":"delete_task","task_id":7}',  # a 1.x reply
     '{"action":"delete_task","task_id":8}'),
])
def test_every_action_is_judged(expected, right, wrong):
    assert score_reply(case(expected), right).correct
    assert not score_reply(case(expected), wrong).correct


def test_invalid_json_and_schema_are_counted_separately():
    cases = [case(create(), "a"), case(create(), "b"), case(create(), "c")]
    replies = ["I'll add that!", '{"action":"create_task"}',
               '{"action":"create_task","title":"Call the plumber","due_date":"tomorrow","priority":"high","tags":["home"]}']
    metrics, results = score(cases, replies)
    assert metrics["json_valid_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert metrics["schema_valid_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert metrics["invalid_json"] == 1
    assert metrics["task_creation_accuracy"] == pytest.approx(1 / 3, abs=1e-3)
    assert [f["id"] for f in metrics["failures"]] == ["a", "b"]
    assert results[0].reason == "invalid JSON"
    assert results[1].reason.startswith("not a Task API call")


def test_metrics_split_creation_from_all_operations():
    cases = [case(create(), "a"), case({"action": "delete_task", "task_id": 2}, "b")]
    replies = [json.dumps(create()), '{"action":"delete_task","task_id":3}']
    metrics, _ = score(cases, replies)
    assert metrics["task_creation_accuracy"] == 1.0
    assert metrics["all_operations_accuracy"] == 0.5
    assert metrics["per_action"]["delete_task"] == {"n": 1, "accuracy": 0.0}
    assert metrics["create_field_accuracy"]["title"] == 1.0


def test_one_reply_per_case():
    with pytest.raises(FtpackError, match="1 cases but 2 replies"):
        score([case(create())], ["{}", "{}"])


def test_user_case_files_are_checked_line_by_line(tmp_path):
    path = tmp_path / "cases.jsonl"
    good = {"id": "x", "today": "2026-11-21", "request": "buy milk", "expected": {"action": "create_task", "title": "Buy milk"}}
    path.write_text(json.dumps(good) + "\n" + json.dumps({"id": "y", "request": "?"}) + "\n")
    with pytest.raises(FtpackError, match=r"cases.jsonl:2: bad case: missing today, expected"):
        load_cases(path)
    path.write_text(json.dumps(good) + "\n")
    assert load_cases(path)[0].expected["title"] == "Buy milk"


def test_invented_ids_are_counted_apart():
    import datetime as dt

    from ftpack.score import Case
    from ftpack.taskapi import names_task_id

    today = dt.date(2026, 11, 21)
    cases = [Case("a", today, "delete that one", {"action": "clarify", "question": "Which?"}, "clarify-no-id"),
             Case("b", today, "mark #12 done", {"action": "complete_task", "task_id": 12}, "complete"),
             Case("c", today, "finished task 4's draft", {"action": "complete_task", "task_id": 4}, "complete")]
    replies = ['{"action":"delete_task","task_id":1}', '{"action":"complete_task","task_id":12}',
               '{"action":"complete_task","task_id":41}']
    metrics, results = score(cases, replies)
    assert [r.invented_id for r in results] == [True, False, True]
    assert metrics["invented_ids"] == 2 and metrics["invented_id_rate"] == round(2 / 3, 4)
    assert metrics["clarify_accuracy"] == 0.0
    assert metrics["per_class"] == {"clarify-no-id": {"n": 1, "accuracy": 0.0}, "complete": {"n": 2, "accuracy": 0.5}}
    assert metrics["failures"][0]["reason"].startswith("invented task id")
    assert names_task_id("task #12", 12) and not names_task_id("task 123", 12) and not names_task_id("112", 12)


def test_unasked_edits_count_edits_of_tasks_nobody_meant_named_or_not():
    import datetime as dt

    from ftpack.score import Case

    today = dt.date(2026, 11, 21)
    create = {"action": "create_task", "title": "Pay invoice #4471", "due_date": None, "priority": "medium", "tags": []}
    cases = [Case("a", today, "pay invoice #4471", create),
             Case("b", today, "delete that one", {"action": "clarify", "question": "Which?"}),
             Case("c", today, "cancel task 55", {"action": "delete_task", "task_id": 55}),
             Case("d", today, "task 7 is done", {"action": "complete_task", "task_id": 7}),
             Case("e", today, "move task 9 to friday", {"action": "update_task", "task_id": 9,
                                                        "changes": {"due_date": "friday"}})]
    replies = ['{"update":4471,"title":"Pay invoice"}',  # the number is in the request: no invented id
               '{"delete":1}',  # invented, and an edit nobody asked for
               '{"complete":55}',  # the right task, the wrong action
               '{"complete":7}',  # right
               '{"update":9,"due":"monday"}']  # the asked task, wrong content: wrong, but not unasked
    metrics, results = score(cases, replies)
    assert [r.unasked_edit for r in results] == [True, True, True, False, False]
    assert [r.invented_id for r in results] == [False, True, False, False, False]
    assert (metrics["unasked_edits"], metrics["unasked_edit_rate"], metrics["invented_ids"]) == (3, 0.6, 1)
    reasons = [f["reason"] for f in metrics["failures"]]
    assert reasons[0].startswith("edits a task nobody asked to change") and reasons[1].startswith("invented task id")


def test_the_client_guard_turns_a_guessed_id_into_a_clarify():
    import datetime as dt

    from ftpack.score import Case, guarded_reply
    from ftpack.taskapi import guard_call

    assert guard_call("delete that one", {"action": "delete_task", "task_id": 1}) == {
        "action": "clarify", "question": "Which task id should I delete?"}
    named = {"action": "complete_task", "task_id": 12}
    assert guard_call("mark #12 done", named) is named  # an id the request names is left alone
    assert guard_call("mark it done", {"action": "list_tasks"}) == {"action": "list_tasks"}
    assert guarded_reply("finished task 4's draft", '{"complete":41}') == '{"clarify":"Which task id is done?"}'
    assert guarded_reply("finished task 4's draft", '{"action":"complete_task","task_id":41}') == (
        '{"clarify":"Which task id is done?"}')  # a 1.x reply is guarded the same way
    assert guarded_reply("mark #12 done", ' {"complete": 12} ') == ' {"complete": 12} '  # unchanged text
    assert guarded_reply("x", "not json") == "not json"
    # a number inside a code, an amount, a decimal, a time, a fraction or a phone number is no task id: asked
    # about, not acted on
    for request, reply in [("forward PO-88213 to procurement", '{"update":88213,"tags":["work"]}'),
                           ("Transfer $250 to savings", '{"complete":250}'), ("mark the 10am call as done", '{"complete":10}'),
                           ("upgrade to Python 3.12", '{"update":12}'), ("move the 3/4 inch dowels", '{"update":4}'),
                           ("Call 0800 123 456 to dispute the charge", '{"update":123,"title":"Dispute the charge"}'),
                           ("ring 07700 900 123 about the boiler", '{"update":123,"title":"Ring about the boiler"}')]:
        assert taskapi.parse_reply(guarded_reply(request, reply))["action"] == "clarify", request
    for request, task_id in [("task #12 done", 12), ("mark 12 done", 12), ("task no.12 can go", 12), ("Task No.12", 12), ("(12) done", 12),
                             ("finished task 12's draft", 12), ("delete 12, it's a duplicate of 13", 12),
                             ("task 123: rename to Dispute the charge", 123), ("move 123 to 2027-01-05", 123)]:
        call = {"action": "delete_task", "task_id": task_id}
        assert guard_call(request, call) is call, request
    today = dt.date(2026, 11, 21)
    cases = [Case("a", today, "delete that one", {"action": "clarify", "question": "Which?"}, "clarify-no-id")]
    raw, _ = score(cases, ['{"action":"delete_task","task_id":1}'])
    safe, _ = score(cases, [guarded_reply(cases[0].request, '{"action":"delete_task","task_id":1}')])
    assert (raw["invented_ids"], raw["clarify_accuracy"]) == (1, 0.0)
    assert (safe["invented_ids"], safe["clarify_accuracy"]) == (0, 1.0)


def test_saved_replies_are_rescored_with_todays_scorer(tmp_path, monkeypatch):
    import sys
    from pathlib import Path

    from ftpack import taskapi
    from ftpack.evalsets import HANDWRITTEN_CASES
    from ftpack.score import load_cases

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "bench"))
    sys.modules.pop("rescore_reports", None)
    from rescore_reports import rescore

    cases = load_cases(HANDWRITTEN_CASES)
    replies = [taskapi.dumps(c.expected) for c in cases]
    create = next(i for i, c in enumerate(cases) if c.expected["action"] == "create_task")
    replies[create] = '{"delete":7}'
    report = {"sets": {"hand-written": {"requests": [{"request": c.request, "reply": r} for c, r in zip(cases, replies)]},
                       "generated": {"cases_file": str(tmp_path / "gone.jsonl"), "requests": []}}}
    sets = rescore(report)
    assert sets["hand-written"]["unasked_edits"] == 1 and sets["hand-written"]["invented_ids"] == 1
    assert sets["hand-written"]["all_operations_accuracy"] == round((len(cases) - 1) / len(cases), 4)
    assert sets["hand-written"]["unasked"][0].startswith(cases[create].id)
    assert "is gone" in sets["generated"]["skipped"]
    report["sets"]["hand-written"]["requests"][0]["request"] = "another request"
    assert "no longer holds" in rescore(report)["hand-written"]["skipped"]
