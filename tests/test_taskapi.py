import datetime as dt
import json

import pytest

from ftpack import taskapi

SAT = dt.date(2026, 11, 21)  # a Saturday


@pytest.mark.parametrize("phrase, expected", [
    ("2026-12-05", "2026-12-05"),
    ("today", "2026-11-21"), ("Tonight", "2026-11-21"), ("this evening", "2026-11-21"),
    ("tomorrow", "2026-11-22"), ("tomorrow morning", "2026-11-22"),
    ("tonite", "2026-11-21"), ("tmrw", "2026-11-22"), ("2moro evening", "2026-11-22"),  # slang spellings
    ("day after tmr", "2026-11-23"),
    ("day after tomorrow", "2026-11-23"), ("the day after tomorrow", "2026-11-23"),
    ("friday", "2026-11-27"), ("next Friday", "2026-11-27"), ("this fri", "2026-11-27"), ("on monday", "2026-11-23"),
    ("saturday", "2026-11-28"),  # the same weekday as today means a week ahead
    ("sunday", "2026-11-22"),
    ("next week", "2026-11-28"),
    ("in 3 days", "2026-11-24"), ("in a day", "2026-11-22"), ("in two weeks", "2026-12-05"), ("in 1 week", "2026-11-28"),
    ("end of the month", "2026-11-30"), ("end of month", "2026-11-30"),
    ("Dec 1", "2026-12-01"), ("december 1st", "2026-12-01"), ("1 dec", "2026-12-01"), ("the 1st of December", "2026-12-01"),
    ("Nov 20", "2027-11-20"),  # already past this year: next year's
    ("Nov 21", "2026-11-21"),  # today counts
    ("December 1st, 2027", "2027-12-01"), ("1st Dec 2027", "2027-12-01"), ("Sept 3", "2027-09-03"),
    ("feb 29", "2028-02-29"),
])
def test_date_phrases_resolve_against_today(phrase, expected):
    assert taskapi.resolve_due_date(phrase, SAT).isoformat() == expected


@pytest.mark.parametrize("phrase", ["soon", "next month", "2026-13-01", "feb 30", "april 31 2027", "in many days",
                                   "tmrwx", "tonite!"])
def test_unknown_or_impossible_dates_are_rejected(phrase):
    with pytest.raises(ValueError):
        taskapi.resolve_due_date(phrase, SAT)


def test_null_due_date_is_no_date():
    assert taskapi.resolve_due_date(None, SAT) is None


def test_system_prompt_is_one_constant_without_a_date():
    # the model copies date phrases and the client resolves them; a dateless prompt is a cacheable prefix
    assert taskapi.SYSTEM_PROMPT == "Task API 2 assistant."
    assert taskapi.SYSTEM_PROMPT.replace(taskapi.CONTRACT_VERSION.split(".")[0], "").isalpha() is False
    assert not any(ch.isdigit() for ch in taskapi.SYSTEM_PROMPT.replace(" 2 ", " "))


def test_resolved_call_fills_defaults_and_resolves_dates():
    assert taskapi.resolved_call({"action": "update_task", "task_id": 2, "changes": {"due_date": "tomorrow"}}, SAT) == \
        {"action": "update_task", "task_id": 2, "changes": {"due_date": "2026-11-22"}}
    assert taskapi.resolved_call({"action": "create_task", "title": "X"}, SAT) == \
        {"action": "create_task", "title": "X", "due_date": None, "priority": "medium", "tags": []}


@pytest.mark.parametrize("call", [
    {"action": "create_task", "title": "Call the plumber", "due_date": "tomorrow", "priority": "high", "tags": ["home"]},
    {"action": "create_task", "title": "Buy milk"},
    {"action": "update_task", "task_id": 3, "changes": {"due_date": "2026-12-01"}},
    {"action": "complete_task", "task_id": 1},
    {"action": "delete_task", "task_id": 9},
    {"action": "list_tasks"},
    {"action": "list_tasks", "status": "done", "priority": "low", "due_date": "friday"},
    {"action": "clarify", "question": "Which task?"},
])
def test_valid_calls_pass(call):
    taskapi.validate_call(call, SAT)


@pytest.mark.parametrize("call, message", [
    ({"action": "fly"}, "action must be one of"),
    ([1, 2], "not a JSON object"),
    ({"action": "create_task"}, "'title' is a required property"),
    ({"action": "create_task", "title": "x", "priority": "urgent"}, "priority"),
    ({"action": "create_task", "title": "x", "due_date": "soonish"}, "due_date"),
    ({"action": "update_task", "task_id": 3, "changes": {}}, "changes"),
    ({"action": "delete_task", "task_id": "3"}, "task_id"),
    ({"action": "complete_task", "task_id": 3, "extra": 1}, "extra"),
])
def test_invalid_calls_say_why(call, message):
    with pytest.raises(taskapi.TaskAPIError, match=message):
        taskapi.validate_call(call, SAT)


@pytest.mark.parametrize("text", [
    '{"list":true}', '  {"list":true}\n', '```json\n{"list":true}\n```', '```\n{"list":true}\n```',
    '{"action":"list_tasks"}',  # a Task API 1.x reply: the call written out
])
def test_parse_reply_tolerates_whitespace_and_fences(text):
    assert taskapi.parse_reply(text) == {"action": "list_tasks"}


def test_parse_reply_rejects_non_json():
    with pytest.raises(json.JSONDecodeError):
        taskapi.parse_reply("Sure! I added the task.")


def test_canonical_reply_leaves_defaults_out():
    call = {"action": "create_task", "title": "Buy milk", "due_date": None, "priority": "medium", "tags": []}
    assert taskapi.dumps(call) == '{"create":"Buy milk"}'
    assert taskapi.fill_defaults(taskapi.parse_reply(taskapi.dumps(call))) == call


@pytest.mark.parametrize("call, reply", [
    ({"action": "create_task", "title": "Call the plumber", "due_date": "tomorrow", "priority": "high", "tags": ["home"]},
     '{"create":"Call the plumber","due":"tomorrow","priority":"high","tags":["home"]}'),
    ({"action": "update_task", "task_id": 3, "changes": {"title": "Delete old photos", "due_date": None}},
     '{"update":3,"title":"Delete old photos","due":null}'),
    ({"action": "complete_task", "task_id": 1}, '{"complete":1}'),
    ({"action": "delete_task", "task_id": 9}, '{"delete":9}'),
    ({"action": "list_tasks", "status": "done", "due_date": "friday"}, '{"list":true,"status":"done","due":"friday"}'),
    ({"action": "clarify", "question": "Which task id should I delete?"}, '{"clarify":"Which task id should I delete?"}'),
])
def test_reply_form_names_the_action_first_and_decodes_to_the_call(call, reply):
    import jsonschema

    assert taskapi.dumps(call) == reply
    jsonschema.validate(json.loads(reply), taskapi.reply_schema())
    assert taskapi.parse_reply(reply) == call


def test_every_hand_written_call_round_trips_through_the_reply_form():
    import jsonschema

    from ftpack.evalsets import SHIPPED_SETS

    validator = jsonschema.Draft202012Validator(taskapi.reply_schema())
    for line in (line for path in SHIPPED_SETS.values() for line in path.read_text("utf-8").splitlines()):
        call = json.loads(json.loads(line)["reply"])
        validator.validate(json.loads(taskapi.dumps(call)))
        assert taskapi.strip_defaults(taskapi.parse_reply(taskapi.dumps(call))) == taskapi.strip_defaults(call)


@pytest.mark.parametrize("reply, message", [
    ('{"frob":1}', "exactly one action key .* got none among keys frob"),
    ('{"create":"a","delete":3}', "exactly one action key .* got create, delete"),
    ('{"create":5}', "title"),
    ('{"update":3}', "changes"),
    ('{"list":false}', "'list' was unexpected"),
    ('{"delete":"x"}', "task_id"),
    ('{"complete":2,"due":"friday"}', "due_date"),
])
def test_malformed_replies_say_why(reply, message):
    with pytest.raises(taskapi.TaskAPIError, match=message):
        taskapi.validate_call(taskapi.parse_reply(reply), SAT)


def test_published_schema_is_valid_json_schema():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(taskapi.json_schema())
    jsonschema.Draft202012Validator.check_schema(taskapi.reply_schema())
    assert [next(iter(b["required"])) for b in taskapi.reply_schema()["oneOf"]] == list(taskapi.REPLY_VERBS.values())
    assert [b["properties"]["action"]["const"] for b in taskapi.json_schema()["oneOf"]] == list(taskapi.ACTIONS)


@pytest.mark.parametrize("reply, expected", [
    ('{"create":"Call the plumber","due":"tomorrow"}', True),
    ('{"delete":12}', True),
    ('{"create":"txt jess re":"saturday plans"}', False),  # malformed: a colon taken for a key's end
    ("""{"create":"Read 'Someday','priority":"low"}""", False),  # an apostrophe taken for a closing quote
    ('{"list":true,"tags":["home"]}', False),  # JSON, but list_tasks has no tags
    # a due phrase no client resolves is well-formed: validate_call reports it, a retry cannot fix it
    ('{"create":"Pay rent","due":"whenever the moon is full"}', True),
    ("Sure! I'll add that.", False),
])
def test_well_formed_tells_a_malformed_reply(reply, expected):
    assert taskapi.well_formed(reply) is expected
