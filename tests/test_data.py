import collections
import datetime as dt
import json
import random
import re
import subprocess
import sys

import pytest

from ftpack import taskapi
from ftpack.data.generate import generate, make_complete, make_delete, make_update
from ftpack.score import load_cases, score


def ftpack(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ftpack", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    run = ftpack("data", "generate", "--seed", "7", "--out", str(out))
    assert run.returncode == 0, run.stderr
    return out


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_default_counts(dataset):
    counts = {name: len(read_jsonl(dataset / name)) for name in
              ("train.jsonl", "val.jsonl", "test.jsonl", "val_cases.jsonl", "test_cases.jsonl")}
    assert counts == {"train.jsonl": 500, "val.jsonl": 100, "test.jsonl": 150, "val_cases.jsonl": 100,
                      "test_cases.jsonl": 150}


def test_same_seed_gives_identical_files_and_another_seed_does_not(dataset, tmp_path):
    assert ftpack("data", "generate", "--seed", "7", "--out", str(tmp_path / "a")).returncode == 0
    assert ftpack("data", "generate", "--seed", "8", "--out", str(tmp_path / "b")).returncode == 0
    for name in ("train.jsonl", "val.jsonl", "test.jsonl", "val_cases.jsonl", "test_cases.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (dataset / name).read_bytes()
    assert (tmp_path / "b" / "train.jsonl").read_bytes() != (dataset / "train.jsonl").read_bytes()


def test_no_request_text_in_two_splits(dataset):
    seen = {}
    for split in ("train", "val", "test"):
        texts = {" ".join(r["messages"][1]["content"].casefold().split()) for r in read_jsonl(dataset / f"{split}.jsonl")}
        for other, other_texts in seen.items():
            assert not texts & other_texts, (split, other)
        seen[split] = texts


def test_every_row_is_valid_chat_and_task_api(dataset):
    run = ftpack("data", "validate", *(str(dataset / f"{s}.jsonl") for s in ("train", "val", "test")), "--schema", "taskapi")
    assert run.returncode == 0, run.stderr
    assert "500 rows, ok" in run.stdout


def test_mix_of_operations_and_variety(dataset):
    rows = read_jsonl(dataset / "train.jsonl")
    calls = [taskapi.parse_reply(r["messages"][2]["content"]) for r in rows]
    actions = collections.Counter(c["action"] for c in calls)
    assert set(actions) == set(taskapi.ACTIONS)
    assert 0.5 <= actions["create_task"] / len(rows) <= 0.7
    creates = [c for c in calls if c["action"] == "create_task"]
    assert {c.get("priority", "medium") for c in creates} == {"low", "medium", "high"}
    assert {len(c.get("tags", [])) for c in creates} >= {0, 1, 2, 3}
    assert sum("due_date" in c for c in creates) > len(creates) / 2
    requests = [r["messages"][1]["content"] for r in rows]
    assert {r["messages"][0]["content"] for r in rows} == {taskapi.SYSTEM_PROMPT}  # one constant, dateless prompt
    assert len({c["today"] for c in read_jsonl(dataset / "test_cases.jsonl")}) > 100  # dates resolve per case
    for marker in ("remind me to", "I need to", "can you add", '"', "tomorrow", "urgent", "Tags:", "Priority:"):
        assert any(marker in q for q in requests), marker
    assert sum(q == q.lower() for q in requests) > 50


def test_attributes_appear_before_inside_and_after_the_title(dataset):
    rows = [(r["messages"][1]["content"], taskapi.parse_reply(r["messages"][2]["content"])) for r in read_jsonl(dataset / "train.jsonl")]
    creates = [(q, c) for q, c in rows if c["action"] == "create_task"]
    where = collections.Counter()
    for request, call in creates:
        title_at = request.casefold().find(call["title"].casefold())
        if title_at < 0:  # the date stands inside the title's span (test_a_date_may_stand_inside_the_title)
            continue
        if call.get("due_date") and call["due_date"].casefold() in request.casefold():
            where["date before" if request.casefold().index(call["due_date"].casefold()) < title_at else "date after"] += 1
        for tag in call.get("tags", []):
            where["tag before" if request.casefold().index(tag.casefold()) < title_at else "tag after"] += 1
    assert min(where.values()) >= 0.1 * len(creates) / 4, where
    # tags named in a clause of their own before the title, as dates and priorities are
    assert any(re.match(r"(tag it|tagged|with tag|tags|label it|tag:) \w+[^.]*?[,:-] ", q, re.I) for q, _ in creates)
    assert sum(". " in q and q.index(". ") > q.casefold().find(c["title"].casefold()) >= 0 for q, c in creates) > 30


def test_titles_are_composed_not_recalled(dataset):
    titles = {taskapi.parse_reply(r["messages"][2]["content"]).get("title") for r in read_jsonl(dataset / "train.jsonl")} - {None}
    words = {w for t in titles for w in t.casefold().split()}
    assert len(titles) > 200 and len(words) > 300  # 500 rows
    # numbers and ids inside titles stay in the title, never become a date or a task id
    assert sum(any(ch.isdigit() for ch in t) for t in titles) > 10


def test_no_invented_ids_and_clarify_when_none_is_given(dataset):
    from ftpack.taskapi import guard_call, invents_id

    rows = [(r["messages"][1]["content"], taskapi.parse_reply(r["messages"][2]["content"])) for r in read_jsonl(dataset / "train.jsonl")]
    assert not [q for q, c in rows if invents_id(q, c)]  # the data never teaches acting on an unnamed task
    assert not [q for q, c in rows if guard_call(q, c) is not c]  # nor on a number the client would ask about
    clarify = [q for q, c in rows if c["action"] == "clarify"]
    assert len(clarify) > 0.08 * len(rows)
    assert any(" it" in q for q in clarify)
    assert any(pronoun in q for q in clarify for pronoun in ("that one", "this one", "that task", "the last one"))


def test_removing_tags_is_an_update_even_in_the_words_of_a_delete(dataset):
    """"remove all tags from task 33" -> {"update":33,"tags":[]}: runs before these rows deleted the
    task instead. No delete is ever phrased as being about tags."""
    rows = [(r["messages"][1]["content"], taskapi.parse_reply(r["messages"][2]["content"])) for r in read_jsonl(dataset / "train.jsonl")]
    untagged = [q for q, c in rows if c["action"] == "update_task" and c["changes"] == {"tags": []}]
    assert len(untagged) >= 0.01 * len(rows), len(untagged)  # ~2 % here; 3 of 500 before
    # The wording share is a property of the generator: judged on 400 untaggings, not the ~9 above.
    rng, today = random.Random(0), dt.date(2026, 12, 6)
    untaggings = [q for q, c in (make_update(rng, today) for _ in range(6000)) if c["changes"] == {"tags": []}]
    assert len(untaggings) > 300
    assert sum(bool(re.search(r"\b(remove|delete|clear|get rid of|drop|strip|wipe|scrap)\b", q, re.I)) for q in untaggings) \
        >= 0.6 * len(untaggings)
    assert not [q for q, c in rows if c["action"] == "delete_task" and re.search(r"\b(tags?|labels?)\b", q, re.I)]


def test_an_ending_given_as_the_reason_deletes_and_never_completes():
    """"scrap task #19, the trip got cancelled" is a delete: runs before these rows completed it."""
    rng, today = random.Random(0), dt.date(2026, 12, 7)
    ending = re.compile(r"\b(cancel\w*|called off|fell through|is off|isn't happening|scrapped)\b", re.I)
    deletes = [q for q, c in (make_delete(rng, today) for _ in range(3000)) if c["action"] == "delete_task"]
    assert len(deletes) == 3000 and sum(bool(ending.search(q)) for q in deletes) > 0.1 * len(deletes)
    completes = [q for q, _ in (make_complete(rng, today) for _ in range(3000))]
    assert not [q for q in completes if ending.search(q)]
    assert not [q for q in deletes + completes if re.search(r"\bthe (a|an|my) ", q)]  # "the a new laptop one"


def _split_by_the_date(request: str, title: str, due: str | None) -> bool:
    """The title is the user's words on both sides of the due date: 'email the landlord tomorrow about it'."""
    words = title.casefold().split()
    return bool(due) and any(
        re.search(re.escape(" ".join(words[:i])) + r" (\S+ )*?" + re.escape(due.casefold()) + " " + re.escape(" ".join(words[i:])),
                  request.casefold()) for i in range(1, len(words)))


def test_titles_keep_the_users_wording(dataset):
    for row in read_jsonl(dataset / "train.jsonl"):
        call = taskapi.parse_reply(row["messages"][2]["content"])
        if call["action"] == "create_task":
            request = row["messages"][1]["content"]
            assert (call["title"].casefold() in request.casefold()
                    or _split_by_the_date(request, call["title"], call.get("due_date"))), (request, call)
            assert call["title"][0].isupper()


def test_a_date_may_stand_inside_the_title(dataset):
    """'email the landlord tomorrow morning about the boiler': due is the date alone, the title the rest."""
    rows = [(r["messages"][1]["content"], taskapi.parse_reply(r["messages"][2]["content"])) for r in read_jsonl(dataset / "train.jsonl")]
    inside = [(q, c) for q, c in rows if c["action"] == "create_task" and c["title"].casefold() not in q.casefold()]
    assert 5 <= len(inside) <= 0.15 * len(rows), len(inside)
    assert all(_split_by_the_date(q, c["title"], c.get("due_date")) for q, c in inside)


def _listed_words():
    from ftpack.data import vocab
    from ftpack.data.surface import CHAINED_LEADS

    texts = [*CHAINED_LEADS, *vocab.PEOPLE, *vocab.PLACES, *vocab.FIXED_TITLES, *vocab.NUMBERED, *vocab.COMPLEMENTS, *vocab.TAGS,
             *(v for v, _ in vocab.VERBS), *(o for objects in vocab.OBJECTS.values() for o in objects)]
    return {w for text in texts for w in re.findall(r"[a-z]+", text.casefold())}


def test_titles_reach_beyond_the_word_lists(dataset):
    """Held-out titles are full of words no list has: training titles must be too, or the model
    learns to rewrite a rare word into a listed one ("investigate" -> "Invest")."""
    listed = _listed_words()
    titles = [taskapi.parse_reply(r["messages"][2]["content"]).get("title") for r in read_jsonl(dataset / "train.jsonl")]
    titles = [t for t in titles if t]
    unlisted = [t for t in titles if set(re.findall(r"[a-z]+", t.casefold())) - listed - {"and"}]
    assert 0.12 < len(unlisted) / len(titles) < 0.5
    # 60-91 distinct unlisted words over generator seeds 1-12 of these 500 rows (a bound of 60 failed
    # two of them); without the open vocabulary, ~0
    assert len({w for t in unlisted for w in re.findall(r"[a-z]+", t.casefold())} - listed) > 40


def test_tags_reach_beyond_the_tag_list(dataset):
    """People tag with their own words: a model that saw only the listed tags swaps an unknown one
    for a listed look-alike ("football" -> "finance"), so some training tags are any word, and
    every tag is copied from the request."""
    from ftpack.data.vocab import TAGS

    tags = []
    for row in read_jsonl(dataset / "train.jsonl"):
        call = taskapi.parse_reply(row["messages"][2]["content"])
        for tag in call.get("tags") or call.get("changes", {}).get("tags") or []:
            assert tag.casefold() in row["messages"][1]["content"].casefold(), row
            tags.append(tag.casefold())
    unlisted = [t for t in tags if t not in TAGS]
    assert 0.2 < len(unlisted) / len(tags) < 0.5
    assert len(set(unlisted)) > 0.8 * len(unlisted)  # words, not a second list


def test_date_phrases_are_copied_from_the_request(dataset):
    for row in read_jsonl(dataset / "train.jsonl"):
        call = taskapi.parse_reply(row["messages"][2]["content"])
        due = call.get("due_date") or call.get("changes", {}).get("due_date")
        if due:  # as written, up to case ("Tomorrow I must ..." -> "tomorrow"), or its slang ("tmrw")
            typed = [due, *taskapi.SLANG_SPELLINGS.get(due.casefold(), ())]
            assert any(t.casefold() in row["messages"][1]["content"].casefold() for t in typed), row


def test_cases_match_chat_rows_and_score_perfectly(dataset):
    cases = load_cases(dataset / "test_cases.jsonl")
    chat = read_jsonl(dataset / "test.jsonl")
    assert [c.request for c in cases] == [r["messages"][1]["content"] for r in chat]
    assert all(r["messages"][0]["content"] == taskapi.SYSTEM_PROMPT for r in chat)
    metrics, _ = score(cases, [r["messages"][2]["content"] for r in chat])
    assert metrics["all_operations_accuracy"] == 1.0
    assert metrics["task_creation_accuracy"] == 1.0
    for c in cases:  # expected due dates are resolved ISO dates
        due = c.expected.get("due_date")
        if due:
            dt.date.fromisoformat(due)


def test_generation_is_a_function_of_the_seed():
    assert generate(3, 20, 5, 5) == generate(3, 20, 5, 5)


def test_more_training_rows_keep_the_held_out_splits():
    small, large = generate(3, 20, 5, 5), generate(3, 60, 5, 5)
    assert (small["test"], small["val"]) == (large["test"], large["val"])
    assert large["train"][:20] == small["train"] and len(large["train"]) == 60


BAD_ROWS = [
    ('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "{\\"action\\":\\"list_tasks\\"}"}]}', None),
    ('{"messages": [{"role": "user", "content": "hi"', "bad JSON"),
    ('{"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "hi"}]}', "role 'assistant' where 'user' belongs"),
    ('{"messages": [{"role": "user", "content": "hi"}]}', "must end with an assistant message"),
    ('{"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "x"}]}', "empty content"),
    ('{"messages": [{"role": "robot", "content": "hi"}]}', "unknown role"),
    ('{"text": "hello"}', "unknown row format"),
    ('{"prompt": "delete task 3", "completion": ""}', 'empty "completion"'),
]


def test_validate_names_each_bad_line(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(row for row, _ in BAD_ROWS) + "\n")
    run = ftpack("data", "validate", str(path))
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == len(BAD_ROWS) - 1
    for lineno, (_, reason) in enumerate(BAD_ROWS, 1):
        if reason:
            assert any(line.startswith(f"{path}:{lineno}: ") and reason in line for line in lines), reason
    assert "Traceback" not in run.stderr


def test_validate_with_schema_checks_assistant_replies(tmp_path):
    path = tmp_path / "replies.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": "buy milk"}, {"role": "assistant", "content": '{"action":"create_task","title":"Buy milk"}'}]},
        {"messages": [{"role": "user", "content": "buy milk"}, {"role": "assistant", "content": "Sure, done!"}]},
        {"messages": [{"role": "user", "content": "buy milk"}, {"role": "assistant", "content": '{"action":"create_task","priority":"high"}'}]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert ftpack("data", "validate", str(path)).returncode == 0
    run = ftpack("data", "validate", str(path), "--schema", "taskapi")
    assert run.returncode == 1
    assert f"{path}:2: message 1 (assistant): reply is not valid JSON" in run.stderr
    assert f"{path}:3: message 1 (assistant): not a Task API reply" in run.stderr


def test_convert_prompt_completion_and_alpaca(tmp_path):
    src = tmp_path / "mixed.jsonl"
    src.write_text(json.dumps({"prompt": "delete task 3", "completion": '{"action":"delete_task","task_id":3}'}) + "\n"
                   + json.dumps({"instruction": "Turn this into a Task API call", "input": "delete task 4",
                                 "output": '{"action":"delete_task","task_id":4}'}) + "\n")
    assert ftpack("data", "validate", str(src), "--schema", "taskapi").returncode == 0
    dst = tmp_path / "chat.jsonl"
    run = ftpack("data", "convert", str(src), str(dst), "--system", "You are a Task API assistant.")
    assert run.returncode == 0, run.stderr
    rows = read_jsonl(dst)
    assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]
    assert rows[1]["messages"][1]["content"] == "Turn this into a Task API call\n\ndelete task 4"
    assert ftpack("data", "validate", str(dst), "--schema", "taskapi").returncode == 0


def test_convert_refuses_bad_input_and_writes_nothing(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"prompt": "x"}\n')
    dst = tmp_path / "out.jsonl"
    run = ftpack("data", "convert", str(src), str(dst))
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "line 1" in run.stderr
    assert not dst.exists() and list(tmp_path.iterdir()) == [src]


def test_missing_file_is_one_line_error(tmp_path):
    run = ftpack("data", "validate", str(tmp_path / "nope.jsonl"))
    assert run.returncode == 2
    assert run.stderr.startswith("error: dataset file not found") and run.stderr.count("\n") == 1
