"""Generate the Task API dataset: chat rows for training and case rows for scoring.

Every row is composed from parts whose meaning is known (a title composed from vocabularies, a
date phrase, a priority cue, tags, a task id), each realised in one of many surface forms and
positions (ftpack.data.surface), so the expected call is right by construction and held-out
titles are mostly new word combinations. A destructive or editing request that names no task id
gets a clarify: guessing an id would change the wrong task.
Same seed -> byte-identical files: one random.Random drives everything and no set is iterated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from pathlib import Path
from typing import Any

from ftpack import taskapi
from ftpack.data import surface as sf
from ftpack.data import vocab, written
from ftpack.data.frames import (COMPLETE_FRAMES, CREATE_FRAMES, DELETE_FRAMES, DELETE_REASONS, EVENTS,
                                LIST_WORDS, NO_ID_FRAMES, NO_ID_REFS, NO_TITLE_REQUESTS)
from ftpack.evalsets import SHIPPED_SETS, held_out_requests, normalized_request
from ftpack.fsutil import write_files_atomic


def _pick_positions(rng: random.Random, frame: str, date: str | None, priority: str | None,
                    tags: list[str]) -> tuple[list[str], str, list[str], list[str]]:
    """Realise each attribute before the title, inside the frame, after it, or in its own sentence."""
    before, after, sentences = [], [], []
    inside = ""
    if date is not None:
        where = "inside" if "{d}" in frame else rng.choices(["after", "before", "sentence"], [50, 30, 20])[0]
        if where == "inside":
            inside = sf.date_inside(rng, date)
        elif where == "before":
            before.append(sf.date_before(rng, date))
        elif where == "after":
            after.append(sf.date_after(rng, date))
        else:
            sentences.append(sf.date_sentence(rng, date))
    if priority is not None:
        where = rng.choices(["after", "before", "sentence"], [45, 35, 20])[0]
        {"after": after, "before": before, "sentence": sentences}[where].append(
            {"after": sf.priority_after, "before": sf.priority_before, "sentence": sf.priority_sentence}[where](
                rng, priority))
    if tags:
        where = rng.choices(["after", "before", "sentence"], [45, 32, 23])[0]
        {"after": after, "before": before, "sentence": sentences}[where].append(
            {"after": sf.tags_after, "before": sf.tags_before, "sentence": sf.tags_sentence}[where](rng, tags))
    rng.shuffle(before)
    # tags go last after the title: "tag it car, urgent" must not read as a tag "car urgent"
    after.sort(key=lambda text: any(mark in text for mark in ("#", "tag", "label:", "[")))
    rng.shuffle(sentences)
    return before, inside, after, sentences


def make_create(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    head, complements = sf.compose_title_parts(rng)
    if rng.random() < 0.1:
        head = sf.as_title(head)
    title = f"{head} {complements}" if complements else head
    date = sf.date_phrase(rng, today) if rng.random() < 0.62 else None
    # Priority cues are what small models get wrong most (measured): give every level enough rows.
    priority = rng.choices([None, "high", "low", "medium"], [32, 30, 26, 12])[0]
    tags = vocab.tag_names(rng, rng.choices([0, 1, 2, 3], [58, 26, 12, 4])[0])
    frame = rng.choice(CREATE_FRAMES)
    if rng.random() < 0.12:
        frame = sf.typo(rng, frame)
    # The date between the verb phrase and its complements ("email the landlord tomorrow morning
    # about the boiler"): `due` is the date alone and the title closes over the gap, so the model
    # does not learn that everything after a date word is the date.
    mid_date = date is not None and bool(complements) and "{d}" not in frame and rng.random() < 0.3
    typed = f"{head} {sf.date_inside(rng, date)} {complements}" if mid_date else title
    before, inside, after, sentences = _pick_positions(rng, frame, None if mid_date else date, priority, tags)
    main = "".join(before) + frame.format(t=typed, d=inside).strip() + "".join(after)
    if before and main[:1].isalpha() and rng.random() < 0.5:
        main = main[0].lower() + main[1:]
    if sentences:
        main = main.rstrip() + ("" if main.rstrip()[-1:] in ".!?" else ".") + " " + " ".join(sentences)
    request = sf.with_context(rng, main)
    case = rng.random()
    if case < 0.2:
        request, title, date = request.lower(), title.lower(), date.lower() if date else None
    elif case < 0.23:  # typed with caps lock on: the title is still the user's span, as typed
        request, title, date = request.upper(), title.upper(), date.upper() if date else None
        tags = [tag.upper() for tag in tags]
    call = {"action": "create_task", "title": sf.as_title(title), "due_date": date,
            "priority": priority or "medium", "tags": tags}
    return request, call


def make_update(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    task_id = sf.random_task_id(rng)
    ref = sf.task_ref(rng, task_id)
    # "remove all tags from task 33" is an update: untagging has rows of its own, phrased with the
    # words of a delete. With 6 such rows in 4500 the model deleted the task (measured).
    kind = rng.choices(["priority", "due", "title", "tags", "no_tags", "no_due", "priority_due", "title_due"],
                       [22, 26, 20, 11, 7, 6, 9, 5])[0]
    changes: dict[str, Any] = {}
    if "priority" in kind:
        changes["priority"] = rng.choice(taskapi.PRIORITIES)
    if "due" in kind:
        changes["due_date"] = None if kind == "no_due" else sf.date_phrase(rng, today)
    if "title" in kind:
        changes["title"] = sf.compose_title(rng)
    if "tags" in kind:
        changes["tags"] = [] if kind == "no_tags" else vocab.tag_names(rng, rng.choices([1, 2], [60, 30])[0])
    p, d, n = changes.get("priority", ""), changes.get("due_date") or "", changes.get("title", "")
    cue = rng.choice(sf.PRIORITY_CUES[p]) if p else ""
    if kind == "priority":
        template = rng.choice(["change the priority of {r} to {p}", "set {r} to {p} priority", "make {r} {p} priority",
                               "{r} should be {p} priority", "update {r}: priority {p}", "{r} is {c} now",
                               "bump {r} to {p} priority", "{r}: {c}", "mark {r} as {c}", "change {r} to {c}",
                               "{r} -> {p} priority", "can you make {r} {c}?", "{r}'s priority is {p} now",
                               "bump {r} up to {c}", "{r} is now {p} priority, it needs doing soon"])
    elif kind == "due":
        template = rng.choice(["move {r} to {d}", "push {r} to {d}", "{r} is now due {d}", "change the due date of {r} to {d}",
                               "reschedule {r} for {d}", "postpone {r} until {d}", "{r}: due {d}", "make {r} due {d}",
                               "{r} should be done by {d} instead", "bring {r} forward to {d}", "set {r}'s deadline to {d}",
                               "can we move {r} to {d}?", "change {r} to {d}", "i need {r} done by {d}",
                               "{r} needs finishing by {d} now", "{r} isn't due {o} anymore, make it {d}"])
    elif kind == "no_due":
        template = rng.choice(["remove the due date from {r}", "{r} has no deadline anymore", "clear the date on {r}",
                               "take the due date off {r}", "{r} doesn't need a due date"])
    elif kind == "title":
        template = rng.choice(['rename {r} to "{n}"', "rename {r} to {n}", "change the title of {r} to {n}",
                               "{r} should be called '{n}'", 'update {r} title: "{n}"', "retitle {r}: {n}",
                               "call {r} \"{n}\" instead", "{r} -> rename to {n}", "change {r} to say {n}",
                               "typo in {r}, it should say {n}", "fix the title of {r}: {n}", "{r} should read '{n}'",
                               "oops, {r} should be {n}"])
    elif kind == "tags":
        template = rng.choice(["tag {r} as {g}", "set the tags of {r} to {g}", "{r} tags: {g}", "label {r} {g}",
                               "retag {r} with {g}", "change the tags on {r} to {g}", "change {r}'s tags to {g}",
                               "{r}'s tags should be {g}", "{r} only needs the {g} tag now"])
    elif kind == "no_tags":
        template = rng.choice(["remove all tags from {r}", "clear the tags on {r}", "untag {r}", "strip the tags off {r}",
                               "{r} shouldn't have any tags", "delete the tags on {r}", "remove the tags from {r}",
                               "get rid of the tags on {r}", "drop every tag from {r}", "take the tags off {r}",
                               "{r}: no tags", "delete {r}'s tags", "wipe the labels on {r}",
                               "scrap the tags on {r}, keep the task"])
    elif kind == "priority_due":
        template = rng.choice(["make {r} {p} priority and move it to {d}", "{r}: {p} priority, due {d}",
                               "change {r} to {p} priority and due {d}", "push {r} to {d}, and it's {c}",
                               "{r} is {c}, needs doing by {d}"])
    else:
        template = rng.choice(['rename {r} to "{n}" and move it to {d}', "{r}: call it {n}, due {d}",
                               "change {r} to '{n}', due {d}"])
    if rng.random() < 0.1:
        template = sf.typo(rng, template)
    if rng.random() < 0.4 and "{c}" not in template and p:
        template, cue = template.replace("{p} priority", "{c}"), cue
    tag_text = rng.choice([" and ", ", "]).join(changes.get("tags", []))
    old_date = sf.spoken(rng, sf.date_phrase(rng, today))
    request = sf.with_context(rng, template.format(r=ref, p=p, c=cue, d=sf.spoken(rng, d), n=n, g=tag_text, o=old_date))
    if "title" in changes:
        changes["title"] = sf.as_title(n)
    if rng.random() < 0.15:
        request = request.lower()
        changes = {k: (v.lower() if isinstance(v, str) and k != "title" else v) for k, v in changes.items()}
        if "title" in changes:
            changes["title"] = sf.as_title(n.lower())
    return request, {"action": "update_task", "task_id": task_id, "changes": changes}


def _ref_or_bare(rng: random.Random, task_id: int, frame: str) -> str:
    # A bare number reads as an id only where the frame says so ("mark 7 done", "7 is done").
    return sf.task_ref(rng, task_id, bare_ok=not frame.startswith(("{r} (", "{r} is finished")))


def make_complete(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    task_id = sf.random_task_id(rng)
    frame = rng.choice(COMPLETE_FRAMES)
    when = rng.choice(["today", "this morning", "yesterday", "last night", "earlier", "just now", "at lunch",
                       "on monday"])
    request = frame.format(r=_ref_or_bare(rng, task_id, frame), x=_described_task(rng), w=when, n=rng.randint(2, 9))
    return sf.with_context(rng, request), {"action": "complete_task", "task_id": task_id}


def make_delete(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    task_id = sf.random_task_id(rng)
    frame = rng.choice(DELETE_FRAMES)
    why = rng.choice(DELETE_REASONS).format(e=rng.choice(EVENTS))
    request = frame.format(r=_ref_or_bare(rng, task_id, frame), x=_described_task(rng), why=why)
    request = sf.as_title(request) if frame.startswith("{why}") and rng.random() < 0.5 else request
    return sf.with_context(rng, request), {"action": "delete_task", "task_id": task_id}


def _described_task(rng: random.Random) -> str:
    """How people point at a task by what it is about, not by id ("the plumber", "2 concert tickets")."""
    category = rng.choice(list(vocab.OBJECTS))
    obj = rng.choice(vocab.OBJECTS[category])
    return next((obj.removeprefix(article) for article in ("the ", "a ", "an ", "my ") if obj.startswith(article)), obj)


def make_list(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    call: dict[str, Any] = {"action": "list_tasks"}
    if rng.random() < 0.4:
        call["status"] = rng.choice(["open", "open", "done"])
    if rng.random() < 0.35:
        call["priority"] = rng.choice(taskapi.PRIORITIES)
    if rng.random() < 0.35 and call.get("status") != "done":
        call["due_date"] = sf.date_phrase(rng, today)
    status = rng.choice(LIST_WORDS[call["status"]]) if "status" in call else ""
    cue = rng.choice(sf.LIST_PRIORITY_WORDS[call["priority"]]) if "priority" in call else ""
    due = call.get("due_date", "")
    if not status and not cue and not due:
        request = rng.choice(["show my tasks", "list all my tasks", "what's on my list?", "what do I have to do?",
                              "show me everything on my todo list", "list tasks", "my todos?", "show me the list",
                              "what tasks do I have", "give me my task list", "everything please, all tasks",
                              "pull up my tasks", "bring up the todo list", "let me see my list", "read me my todos"])
    else:
        parts = {"s": status, "c": cue, "d": due}
        forms = []
        if cue and status:
            forms += ["show {c} tasks that are {s}", "list {s} {c} tasks", "which {c} tasks are {s}?",
                      "which {c} things are {s}", "{c} items that are {s}", "any {c} stuff {s}?"]
        if cue and not status:
            forms += ["show {c} tasks", "anything {c}?", "list my {c} stuff", "what's {c}?", "{c} items",
                      "pull up the {c} tasks"]
        if status and not cue:
            forms += ["what's {s}?", "list {s} tasks", "show me what's {s}", "which tasks are {s}?", "{s} items",
                      "what things are {s}"]
        if due:
            due_forms = ("{d}",) if due.startswith("in ") else ("due {d}", "for {d}")
            forms = [f.rstrip("?") + " " + due_form for f in forms for due_form in due_forms] if forms else [
                "what's due {d}?", "show tasks due {d}", "what's on my plate {d}", "list everything due {d}",
                "what do I have {d}?", "anything due {d}?"]
        request = rng.choice(forms).format(**parts).replace("?  ", "? ")
    if rng.random() < 0.1:
        request = sf.typo(rng, request)
    request = sf.with_context(rng, request)
    if rng.random() < 0.2:
        request = request.lower()
        call = {k: (v.lower() if isinstance(v, str) else v) for k, v in call.items()}
    return request, call


def make_clarify(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    values = {"x": _described_task(rng), "g": vocab.tag_names(rng, 1)[0], "d": sf.date_phrase(rng, today),
              "n": sf.compose_title(rng), "p": rng.choice(taskapi.PRIORITIES),
              "c": rng.choice(sf.PRIORITY_CUES[rng.choice(taskapi.PRIORITIES)])}
    kind = rng.choices(["delete", "complete", "update", "no_title", "no_change"], [28, 26, 26, 12, 8])[0]
    if kind == "no_title":
        request, question = rng.choice(NO_TITLE_REQUESTS).format(**values).strip(), "What is the task?"
    elif kind == "no_change":
        task_id = sf.random_task_id(rng)
        request = rng.choice(["update {r}", "edit {r}", "change {r}", "I want to change {r}", "modify {r}",
                              "{r} needs an update"]).format(r=sf.task_ref(rng, task_id))
        question = f"What should change in task {task_id}?"
    else:
        ref = rng.choice(NO_ID_REFS).format(**values)
        request = rng.choice(NO_ID_FRAMES[kind]).format(ref=ref, Ref=sf.as_title(ref), **values)
        question = taskapi.ASK_FOR_ID[f"{kind}_task"]
    request = sf.with_context(rng, request)
    if rng.random() < 0.2:
        request = request.lower()
    return request, {"action": "clarify", "question": question}


MAKERS = [(make_create, 52), (make_update, 12), (make_complete, 7), (make_delete, 7), (make_list, 9),
          (make_clarify, 13)]


def random_today(rng: random.Random) -> dt.date:
    start = dt.date(2025, 1, 1)
    return start + dt.timedelta(days=rng.randint(0, (dt.date(2027, 12, 31) - start).days))


def chat_row(today: dt.date, request: str, call: dict[str, Any]) -> dict[str, Any]:
    # The prompt carries no date: the model copies date phrases and the client resolves them
    # against its own today, so every request shares one cacheable prefix.
    return {"messages": [
        {"role": "system", "content": taskapi.SYSTEM_PROMPT},
        {"role": "user", "content": request},
        {"role": "assistant", "content": taskapi.dumps(call)},
    ]}


def case_row(case_id: str, today: dt.date, request: str, call: dict[str, Any]) -> dict[str, Any]:
    """The case form: expected with defaults filled in and due dates resolved to ISO dates."""
    return {"id": case_id, "today": today.isoformat(), "request": request,
            "expected": taskapi.resolved_call(call, today)}


def generate(seed: int, n_train: int, n_val: int, n_test: int) -> dict[str, list[tuple[dt.date, str, dict]]]:
    """Rows per split as (today, request, call); no request text appears in two splits.

    Test rows are drawn first and validation rows next, so a bigger training set (same seed) is
    judged on the same held-out cases. A request that a shipped evaluation set contains is
    never emitted (short ones like "what's due tomorrow?" can come up by chance), nor one of the
    written training rows.
    """
    rng = random.Random(seed)
    makers, weights = zip(*MAKERS)
    # written rows may join the training split, so no generated row repeats one either
    seen: set[str] = {*held_out_requests(), *(normalized_request(r) for r, _ in written.written_rows())}
    rows: list[tuple[dt.date, str, dict]] = []
    total = n_train + n_val + n_test
    attempts = 0
    while len(rows) < total:
        attempts += 1
        if attempts > total * 50:
            raise RuntimeError("could not generate enough distinct requests; lower the split sizes")
        today = random_today(rng)
        request, call = rng.choices(makers, weights)[0](rng, today)
        key = normalized_request(request)
        if key in seen:
            continue
        seen.add(key)
        taskapi.validate_call(call, today)
        rows.append((today, request, call))
    return {"test": rows[:n_test], "val": rows[n_test:n_test + n_val], "train": rows[n_test + n_val:]}


def generator_fingerprint() -> str:
    """A hash of the code and words the dataset is made from, and of the sets it must stay clear of:
    `ftpack ship` regenerates its data when any of them changes (a new ftpack, an edited vocabulary)."""
    here = Path(__file__).resolve().parent
    sources = [*sorted(here.glob("*.py")), written.WRITTEN_ROWS, Path(taskapi.__file__), *SHIPPED_SETS.values()]
    digest = hashlib.sha256(vocab.wordfreq_version().encode())
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def with_written(rows: list[tuple[dt.date, str, dict]], seed: int, n_written: int,
                 actions: tuple[str, ...] = taskapi.ACTIONS) -> list[tuple[dt.date, str, dict]]:
    """Training rows with the last n_written generated ones replaced by written rows, mixed in at
    random places: the token budget stays that of n_train rows, the test and validation splits
    stay the generator's."""
    written.check_count(n_written, len(rows), actions)
    rng = random.Random(f"written-{seed}")
    mixed = rows[:len(rows) - n_written]
    for request, call in written.draw(rng, n_written, actions):
        mixed.insert(rng.randint(0, len(mixed)), (random_today(rng), request, call))
    return mixed


def write_dataset(out_dir: str | Path, seed: int, n_train: int, n_val: int, n_test: int,
                  n_written: int = 0, written_actions: tuple[str, ...] = taskapi.ACTIONS) -> dict[str, int]:
    """Write train/val/test.jsonl (chat form) and val/test_cases.jsonl (case form) into out_dir."""
    out = Path(out_dir)
    written.check_count(n_written, n_train, written_actions)  # before minutes of generating
    splits = generate(seed, n_train, n_val, n_test)
    splits["train"] = with_written(splits["train"], seed, n_written, written_actions)
    files = {f"{name}.jsonl": _jsonl([chat_row(*row) for row in rows]) for name, rows in splits.items()}
    for name in ("val", "test"):
        files[f"{name}_cases.jsonl"] = _jsonl(
            [case_row(f"{name}-{i:04d}", *row) for i, row in enumerate(splits[name], 1)])
    write_files_atomic(out, files)  # all five or none: the case files always match their splits
    return {name: text.count("\n") for name, text in files.items()}
