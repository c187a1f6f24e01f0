"""The hand-written evaluation sets: what they cover, and that the generator never produced them."""

import collections

import pytest

from ftpack import taskapi
from ftpack.data.generate import generate
from ftpack.evalsets import HANDWRITTEN_CASES, HELDOUT_CASES, SHIPPED_SETS, normalized_request
from ftpack.score import load_cases, score
from ftpack.taskapi import names_id_on_its_own

CLASSES = {"plain", "attr-before-title", "attr-own-sentence", "attr-prefix", "date-inside", "unseen-words",
           "numbers-symbols", "trap-words", "casual", "update", "complete", "delete", "list", "clarify-no-id",
           "clarify-other"}
# classes, least clarify cases, least cases a class
EXPECTED = {HANDWRITTEN_CASES: (CLASSES, 30, 10), HELDOUT_CASES: (CLASSES | {"long-title"}, 15, 6)}
sets = pytest.mark.parametrize("path", list(SHIPPED_SETS.values()), ids=list(SHIPPED_SETS))


@sets
def test_covers_every_action_and_class(path):
    cases = load_cases(path)
    classes_expected, min_clarify, min_class = EXPECTED[path]
    assert len(cases) >= 200 and len({c.id for c in cases}) == len(cases)
    actions = collections.Counter(c.expected["action"] for c in cases)
    assert set(actions) == set(taskapi.ACTIONS) and actions["clarify"] >= min_clarify
    classes = collections.Counter(c.category for c in cases)
    assert set(classes) == classes_expected and min(classes.values()) >= min_class
    for case in cases:  # an id the assistant may act on stands on its own in the request: the guard lets it through
        if "task_id" in case.expected:
            assert names_id_on_its_own(case.request, case.expected["task_id"]), case.id


@sets
def test_expected_calls_score_perfectly(path):
    cases = load_cases(path)
    metrics, _ = score(cases, [taskapi.dumps(c.expected) for c in cases])
    assert metrics["all_operations_accuracy"] == 1.0 and metrics["invented_ids"] == 0


def test_no_hand_written_request_was_generated():
    """The default ship's data and three other seeds share no normalised request with either set."""
    hand = {normalized_request(c.request) for path in SHIPPED_SETS.values() for c in load_cases(path)}
    assert len(hand) == sum(len(load_cases(path)) for path in SHIPPED_SETS.values())  # the sets share none
    for seed in (7, 1, 2, 3):
        splits = generate(seed, 1500, 100, 150)
        generated = {normalized_request(request) for rows in splits.values() for _, request, _ in rows}
        assert not hand & generated, (seed, sorted(hand & generated)[:3])


@sets
def test_most_hand_written_titles_hold_words_the_training_data_never_uses(path):
    train = generate(7, 1500, 100, 150)["train"]
    seen = {w for _, request, _ in train for w in normalized_request(request).split()}
    titles = [c.expected["title"] for c in load_cases(path) if c.expected["action"] == "create_task"]
    unseen = [t for t in titles if any(w not in seen for w in normalized_request(t).split())]
    assert len(unseen) > len(titles) / 2, len(unseen)
