"""The hand-written evaluation set: what it covers, and that the generator never produced it."""

import collections

from ftpack import taskapi
from ftpack.data.generate import generate
from ftpack.evalsets import HANDWRITTEN_CASES, normalized_request
from ftpack.score import load_cases, score
from ftpack.taskapi import names_task_id

CLASSES = {"plain", "attr-before-title", "attr-own-sentence", "attr-prefix", "date-inside", "unseen-words",
           "numbers-symbols", "trap-words", "casual", "update", "complete", "delete", "list", "clarify-no-id",
           "clarify-other"}


def test_covers_every_action_and_class():
    cases = load_cases(HANDWRITTEN_CASES)
    assert len(cases) >= 200 and len({c.id for c in cases}) == len(cases)
    actions = collections.Counter(c.expected["action"] for c in cases)
    assert set(actions) == set(taskapi.ACTIONS) and actions["clarify"] >= 30
    classes = collections.Counter(c.category for c in cases)
    assert set(classes) == CLASSES and min(classes.values()) >= 10
    for case in cases:  # an id the assistant may act on is always in the request
        if "task_id" in case.expected:
            assert names_task_id(case.request, case.expected["task_id"]), case.id


def test_expected_calls_score_perfectly():
    cases = load_cases(HANDWRITTEN_CASES)
    metrics, _ = score(cases, [taskapi.dumps(c.expected) for c in cases])
    assert metrics["all_operations_accuracy"] == 1.0 and metrics["invented_ids"] == 0


def test_no_hand_written_request_was_generated():
    """The default ship's data and three other seeds share no normalised request with the set."""
    hand = {normalized_request(c.request) for c in load_cases(HANDWRITTEN_CASES)}
    for seed in (7, 1, 2, 3):
        splits = generate(seed, 900, 100, 150)
        generated = {normalized_request(request) for rows in splits.values() for _, request, _ in rows}
        assert not hand & generated, (seed, sorted(hand & generated)[:3])


def test_most_hand_written_titles_hold_words_the_training_data_never_uses():
    train = generate(7, 900, 100, 150)["train"]
    seen = {w for _, request, _ in train for w in normalized_request(request).split()}
    titles = [c.expected["title"] for c in load_cases(HANDWRITTEN_CASES) if c.expected["action"] == "create_task"]
    unseen = [t for t in titles if any(w not in seen for w in normalized_request(t).split())]
    assert len(unseen) > len(titles) / 2, len(unseen)
