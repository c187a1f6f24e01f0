"""The written training rows (ftpack/data/written.jsonl) and how they join the generated data."""

import json
import subprocess
import sys

import pytest

from ftpack import taskapi
from ftpack.data import curate, written
from ftpack.data.generate import generate, with_written, write_dataset
from ftpack.errors import FtpackError
from ftpack.evalsets import held_out_requests, normalized_request


def test_every_written_row_is_usable_and_the_file_is_curated():
    rows = [json.loads(line) for line in written.WRITTEN_ROWS.read_text("utf-8").splitlines()]
    kept, dropped = curate.curate(rows)
    assert dropped == [] and kept == rows
    assert len(rows) >= 1500


def test_written_rows_cover_every_action():
    actions = [call["action"] for _, call in written.written_rows()]
    creates = actions.count("create_task") / len(actions)
    assert set(actions) == {"create_task", "update_task", "complete_task", "delete_task", "list_tasks", "clarify"}
    assert 0.4 < creates < 0.75


def test_no_written_request_is_an_evaluation_case():
    # closeness beyond the same text is curate's check, which the test above runs on every row
    evaluation = held_out_requests()
    assert not [request for request, _ in written.written_rows() if normalized_request(request) in evaluation]


@pytest.mark.parametrize("request_text, why", [
    ("Remind me to renew my passport next week!", "reworded from an evaluation case"),
    ("recaulk the sink in the utility room", "shares 'recaulk'"),  # a rare word of hw-c-092
    ("could you take the recycling out on sunday", "shares 'take the recycling'"),  # a phrase of hw-c-025
])
def test_close_means_reworded_or_sharing_a_rare_word_or_phrase(request_text, why):
    assert curate.too_close(request_text).startswith(why)


def test_words_and_phrases_the_generator_writes_are_not_closeness():
    assert curate.too_close("remind me to water the ferns tmrw, tag it garden") is None


@pytest.mark.parametrize("request_text, reply, problem", [
    ("remind me to call the plumber", {"create": "Call the electrician"}, "holds a value the request does not"),
    ("delete the old one", {"delete": 4}, "holds a value the request does not"),
    ("scrap 12", {"clarify": "Are you sure?"}, "asks a question the contract does not"),
    ("water the ferns on friday", {"create": "Water the ferns", "due": "the weekend"}, "not a Task API call"),
    ("Remind me to renew my passport next week, it's important.", {"create": "Renew my passport"},
     "reworded from an evaluation case"),
])
def test_curate_drops_a_row_and_says_why(request_text, reply, problem):
    kept, dropped = curate.curate([{"request": request_text, "reply": reply}])
    assert kept == [] and len(dropped) == 1 and dropped[0][1].startswith(problem)


def test_curate_writes_calls_as_the_generator_does():
    request = "ring Dr. Okafor tmrw re the MRI #Health"
    rows = [{"request": request, "reply": {"create": "ring dr. okafor re the mri.", "due": "tmrw", "tags": ["Health"]}},
            {"request": request.lower(), "reply": {"create": "Ring dr. okafor re the mri"}},
            {"request": "edit 58", "reply": {"clarify": "What should change in task 58?"}}]
    kept, dropped = curate.curate(rows)
    assert kept == [{"request": request, "reply": {"create": "Ring Dr. Okafor re the MRI", "due": "tomorrow",
                                                   "tags": ["health"]}},
                    {"request": "edit 58", "reply": {"clarify": "What should change in task 58?"}}]
    assert dropped == [(request.lower(), "the same request as another row")]


def test_written_rows_replace_generated_ones_in_training_only():
    plain, mixed = generate(3, 200, 20, 20), generate(3, 200, 20, 20)
    mixed["train"] = with_written(mixed["train"], 3, 80)
    assert len(mixed["train"]) == 200
    written_requests = {r for r, _ in written.written_rows()}
    assert sum(request in written_requests for _, request, _ in mixed["train"]) == 80
    assert [row for row in mixed["train"] if row[1] not in written_requests] == plain["train"][:120]
    assert with_written(generate(3, 200, 20, 20)["train"], 3, 80) == mixed["train"]  # a function of the seed


def test_written_rows_of_the_actions_asked_for():
    rows = with_written(generate(3, 200, 20, 20)["train"], 3, 80, ("create_task",))
    written_requests = {r for r, c in written.written_rows()}
    assert {call["action"] for _, request, call in rows if request in written_requests} == {"create_task"}
    with pytest.raises(FtpackError, match="rows of data.written_actions"):
        with_written(generate(3, 200, 20, 20)["train"], 3, 200, ("delete_task",))


def test_too_many_written_rows_is_a_one_line_error(tmp_path):
    with pytest.raises(FtpackError, match="more than data.n_train"):
        write_dataset(tmp_path / "a", 3, 10, 5, 5, n_written=11)
    run = subprocess.run([sys.executable, "-m", "ftpack", "data", "generate", "--out", str(tmp_path / "b"),
                          "--train", "100000", "--written", "99999"], capture_output=True, text=True)
    assert run.returncode == 2 and "written.jsonl holds" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()
