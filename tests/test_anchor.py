import datetime as dt
import json
import re

import pytest

from ftpack import anchor, taskapi
from ftpack.data.generate import generate
from ftpack.evalsets import SHIPPED_SETS
from ftpack.score import load_cases

TODAY = dt.date(2026, 12, 7)


def titles_the_grammar_cannot_write(pairs):
    """(request, title) pairs whose title the anchored schema's pattern does not match."""
    return [title for request, title in pairs if not re.fullmatch(anchor.title_pattern(request)[1:-1], title)]


@pytest.mark.parametrize("name", list(SHIPPED_SETS))
def test_every_expected_call_of_the_shipped_sets_is_anchored_in_its_request(name):
    """The second try may only narrow decoding to what the right answer can hold: a set whose
    expected call held a value its request does not would be made impossible to get right."""
    cases = load_cases(SHIPPED_SETS[name])
    loose = [c.request for c in cases if not anchor.anchored(c.request, c.expected, c.today)]
    assert loose == []
    # and the grammar, which writes words as typed, can write every expected title
    titles = [(c.request, t) for c in cases for t in (c.expected.get("title"), c.expected.get("changes", {}).get("title"))
              if t]
    assert titles_the_grammar_cannot_write(titles) == []


def test_every_generated_call_is_anchored_in_its_request():
    rows = [row for split in generate(seed=3, n_train=600, n_val=0, n_test=0).values() for row in split]
    loose = [request for today, request, call in rows
             if not anchor.anchored(request, taskapi.parse_reply(taskapi.dumps(call)), today)]
    assert loose == []
    titles = [(request, t) for _, request, call in rows for t in (call.get("title"), call.get("changes", {}).get("title"))
              if t]
    assert titles_the_grammar_cannot_write(titles) == []


@pytest.mark.parametrize("title, ok, allowed", [
    ("Mulch the rose beds", True, True),
    ("mulch the rose beds", True, True),
    ("Mulish the rose beds", False, False),  # a word the request does not hold
    ("Mulch the beds", False, False),  # a word left out of the middle
    ("Rose beds", True, True),
    ("Mulch the rose beds by Sunday", True, True),
    # the scorer takes titles case-folded, so the check does; the grammar writes words as typed
    ("MULCH the rose beds by sunday.", True, False),
])
def test_a_title_is_a_run_of_the_request_words(title, ok, allowed):
    request = "Medium priority, tag it garden: mulch the rose beds by Sunday, please"
    assert anchor.is_title_of(request, title) is ok
    assert bool(re.fullmatch(anchor.title_pattern(request)[1:-1], title)) is allowed  # what the grammar allows


def test_a_date_phrase_inside_a_title_may_be_left_out_with_what_leads_it_in():
    request = "help mum cancel the parking permit no later than 2 sep 2026 in the garden #campbell"
    for title in ("Help mum cancel the parking permit in the garden", "Help mum cancel the parking permit"):
        assert anchor.is_title_of(request, title)
        assert re.fullmatch(anchor.title_pattern(request)[1:-1], title)
    assert not anchor.is_title_of(request, "Help mum cancel the permit in the garden")
    assert "2 sep 2026" in anchor.due_phrases(request)


def test_quotes_and_punctuation_around_words_may_be_left_out():
    request = "can you add a task to return season 2 of 'slow horses'?, by the 13 of march, !!"
    for title in ("Return season 2 of 'slow horses'", "Return season 2 of slow horses", "Return season 2 of 'slow horses'?"):
        assert anchor.is_title_of(request, title), title
    assert anchor.due_phrases(request)[:1] == ["the 13 of march"]


def test_an_id_the_request_does_not_name_on_its_own_is_not_anchored():
    delete = {"action": "delete_task", "task_id": 12}
    assert anchor.anchored("delete task 12", delete, TODAY)
    assert not anchor.anchored("delete that one", delete, TODAY)
    assert not anchor.anchored("delete the PO-12 reminder", delete, TODAY)  # inside a code: not an id
    assert anchor.named_ids("Call 0800 123 456 about task 7") == [7]


def test_due_dates_and_tags_come_from_the_request():
    create = {"action": "create_task", "title": "Book the venue", "due_date": "friday", "tags": ["#work"]}
    assert anchor.anchored("book the venue by Fri #work", create, TODAY)  # "fri" names the same day
    assert not anchor.anchored("book the venue by Fri #work", {**create, "due_date": "saturday"}, TODAY)
    assert not anchor.anchored("book the venue by Fri #work", {**create, "tags": ["home"]}, TODAY)
    assert not anchor.anchored("book the venue", {**create, "due_date": "mororrow", "tags": []}, TODAY)
    assert anchor.tag_words("[home][diy] re-grout it")[:3] == ["home", "diy", "re-grout"]


def test_needs_second_try_for_malformed_or_loose_replies_only():
    request = "remind me to mulch the rose beds tomorrow"
    assert not anchor.needs_second_try(request, '{"create":"Mulch the rose beds","due":"tomorrow"}', TODAY)
    assert anchor.needs_second_try(request, '{"create":"Mulish the rose beds","due":"tomorrow"}', TODAY)
    assert anchor.needs_second_try(request, '{"create":"Mulch the rose beds","due":"tomorow"}', TODAY)
    assert anchor.needs_second_try(request, '{"create":"Mulch', TODAY)
    assert anchor.needs_second_try(request, '{"delete":3}', TODAY)


def test_the_anchored_schema_drops_the_edits_when_no_id_is_named_and_narrows_the_rest():
    schema = anchor.anchored_schema("mark it done")
    assert [b["required"][0] for b in schema["oneOf"]] == ["create", "list", "clarify"]
    schema = anchor.anchored_schema("move task 14 to friday, tag it #work")
    verbs = {b["required"][0]: b["properties"] for b in schema["oneOf"]}
    assert verbs["update"]["update"] == {"enum": [14]} and verbs["delete"]["delete"] == {"enum": [14]}
    assert verbs["update"]["due"] == {"enum": ["friday", None]}
    assert verbs["list"]["due"] == {"enum": ["friday"]}
    assert "work" in verbs["create"]["tags"]["items"]["enum"]


def test_the_anchored_schema_of_every_shipped_request_converts_to_a_grammar():
    """llama.cpp's JSON-Schema converter (the Python port llama-cpp-python ships; Ollama runs the
    C++ original) takes every pattern: it has no (?: and no escapes beyond []()|{}*+?."""
    from llama_cpp.llama_grammar import LlamaGrammar

    for path in SHIPPED_SETS.values():
        for case in load_cases(path):
            LlamaGrammar.from_json_schema(json.dumps(anchor.anchored_schema(case.request)), verbose=False)
