"""Generate the Task API dataset: chat rows for training and case rows for scoring.

Every row is composed from parts whose meaning is known (a title composed from vocabularies, a
date phrase, a priority cue, tags, a task id), each realised in one of many surface forms and
positions (ftpack.data.surface) inside a sentence of its action (ftpack.data.frames), so the
expected call is right by construction and held-out titles are mostly new word combinations. A destructive or editing request that names no task id
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
from ftpack.data import frames as fr
from ftpack.data import surface as sf
from ftpack.data import vocab
from ftpack.evalsets import held_out_requests, normalized_request
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
    title = sf.compose_title(rng)
    if rng.random() < 0.1:
        title = sf.as_title(title)
    date = sf.date_phrase(rng, today) if rng.random() < 0.62 else None
    # Priority cues are what small models get wrong most (measured): give every level enough rows.
    priority = rng.choices([None, "high", "low", "medium"], [32, 30, 26, 12])[0]
    tags = rng.sample(vocab.TAGS, rng.choices([0, 1, 2, 3], [58, 26, 12, 4])[0])
    frame = rng.choice(fr.CREATE_FRAMES)
    if rng.random() < 0.12:
        frame = sf.typo(rng, frame)
    before, inside, after, sentences = _pick_positions(rng, frame, date, priority, tags)
    # .replace: a {d} frame without a date would read "remind me  to ..."
    main = "".join(before) + frame.format(t=title, d=inside).replace("  ", " ").strip() + "".join(after)
    if before and main[:1].isalpha() and rng.random() < 0.5:
        main = main[0].lower() + main[1:]
    if sentences:
        main = main.rstrip() + ("" if main.rstrip()[-1:] in ".!?" else ".") + " " + " ".join(sentences)
    request = sf.with_context(rng, main)
    lowercase = rng.random() < 0.2
    if lowercase:
        request, title, date = request.lower(), title.lower(), date.lower() if date else None
    call = {"action": "create_task", "title": sf.as_title(title), "due_date": date,
            "priority": priority or "medium", "tags": tags}
    return request, call


def make_update(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    task_id = sf.random_task_id(rng)
    ref = sf.task_ref(rng, task_id)
    kind = rng.choices(["priority", "due", "title", "tags", "no_due", "priority_due", "title_due"],
                       [22, 26, 20, 12, 6, 9, 5])[0]
    changes: dict[str, Any] = {}
    if "priority" in kind:
        changes["priority"] = rng.choice(taskapi.PRIORITIES)
    if "due" in kind:
        changes["due_date"] = None if kind == "no_due" else sf.date_phrase(rng, today)
    if "title" in kind:
        changes["title"] = sf.compose_title(rng)
    if kind == "tags":
        changes["tags"] = rng.sample(vocab.TAGS, rng.choices([0, 1, 2], [10, 60, 30])[0])
    p, d, n = changes.get("priority", ""), changes.get("due_date") or "", changes.get("title", "")
    cue = rng.choice(sf.PRIORITY_CUES[p]) if p else ""
    template = rng.choice(fr.UPDATE_TEMPLATES["untag" if kind == "tags" and not changes["tags"] else kind])
    if rng.random() < 0.1:
        template = sf.typo(rng, template)
    if rng.random() < 0.4 and "{c}" not in template and p:
        template, cue = template.replace("{p} priority", "{c}"), cue
    tag_text = rng.choice([" and ", ", "]).join(changes.get("tags", []))
    request = sf.with_context(rng, template.format(r=ref, p=p, c=cue, d=d, n=n, g=tag_text))
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
    frame = rng.choice(fr.COMPLETE_FRAMES)
    request = frame.format(r=_ref_or_bare(rng, task_id, frame), x=_described_task(rng))
    return sf.with_context(rng, request), {"action": "complete_task", "task_id": task_id}


def make_delete(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    task_id = sf.random_task_id(rng)
    frame = rng.choice(fr.DELETE_FRAMES)
    request = frame.format(r=_ref_or_bare(rng, task_id, frame), x=_described_task(rng))
    return sf.with_context(rng, request), {"action": "delete_task", "task_id": task_id}


def _described_task(rng: random.Random) -> str:
    """How people point at a task by what it is about, not by id ("the plumber", "2 concert tickets")."""
    category = rng.choice(list(vocab.OBJECTS))
    return rng.choice(vocab.OBJECTS[category]).removeprefix("the ")


def make_list(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    call: dict[str, Any] = {"action": "list_tasks"}
    if rng.random() < 0.4:
        call["status"] = rng.choice(["open", "open", "done"])
    if rng.random() < 0.35:
        call["priority"] = rng.choice(taskapi.PRIORITIES)
    if rng.random() < 0.35 and call.get("status") != "done":
        call["due_date"] = sf.date_phrase(rng, today)
    status = rng.choice(fr.LIST_WORDS[call["status"]]) if "status" in call else ""
    cue = rng.choice(sf.LIST_PRIORITY_WORDS[call["priority"]]) if "priority" in call else ""
    due = call.get("due_date", "")
    if not status and not cue and not due:
        request = rng.choice(["show my tasks", "list all my tasks", "what's on my list?", "what do I have to do?",
                              "show me everything on my todo list", "list tasks", "my todos?", "show me the list",
                              "what tasks do I have", "give me my task list", "everything please, all tasks",
                              "what's on my to-do list?", "can I see my tasks?", "pull up my to-do list",
                              "all my tasks pls", "gimme the whole list", "what have I got on?",
                              "what's on the agenda?"])
    else:
        parts = {"s": status, "c": cue, "d": due}
        forms = []
        if cue and status:
            forms += ["show {c} tasks that are {s}", "list {s} {c} tasks", "which {c} tasks are {s}?",
                      "any {c} tasks that are {s}?", "what {c} stuff is {s}?", "pull up the {c} tasks that are {s}",
                      "which of my {c} tasks are {s}?"]
        if cue and not status:
            forms += ["show {c} tasks", "anything {c}?", "list my {c} stuff", "what's {c}?", "any {c} tasks?",
                      "what do I have that's {c}?", "pull up the {c} ones", "got anything {c}?",
                      "list the {c} stuff"]
        if status and not cue:
            forms += ["what's {s}?", "list {s} tasks", "show me what's {s}", "which tasks are {s}?",
                      "what tasks are {s}?", "anything {s}?", "what have I got that's {s}?",
                      "pull up everything that's {s}", "give me what's {s}"]
        if due:
            due_forms = ("{d}",) if due.startswith("in ") else ("due {d}", "for {d}")
            forms = [f.rstrip("?") + " " + due_form for f in forms for due_form in due_forms] if forms else [
                "what's due {d}?", "show tasks due {d}", "what's on my plate {d}", "list everything due {d}",
                "what do I have {d}?", "anything due {d}?", "what needs doing {d}?", "show me what's due {d}",
                "anything I need to do {d}?", "list what's due {d}", "what have I got on {d}?"]
        request = rng.choice(forms).format(**parts).replace("?  ", "? ")
    if rng.random() < 0.1:
        request = sf.typo(rng, request)
    request = sf.with_context(rng, request)
    if rng.random() < 0.2:
        request = request.lower()
        call = {k: (v.lower() if isinstance(v, str) else v) for k, v in call.items()}
    return request, call


def make_clarify(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    values = {"x": _described_task(rng), "g": rng.choice(vocab.TAGS), "d": sf.date_phrase(rng, today),
              "n": sf.compose_title(rng), "p": rng.choice(taskapi.PRIORITIES),
              "c": rng.choice(sf.PRIORITY_CUES[rng.choice(taskapi.PRIORITIES)])}
    kind = rng.choices(["delete", "complete", "update", "no_title", "no_change"], [28, 26, 26, 12, 8])[0]
    if kind == "no_title":
        request, question = rng.choice(fr.NO_TITLE_REQUESTS).format(**values).strip(), "What is the task?"
    elif kind == "no_change":
        task_id = sf.random_task_id(rng)
        request = rng.choice(["update {r}", "edit {r}", "change {r}", "I want to change {r}", "modify {r}",
                              "{r} needs an update"]).format(r=sf.task_ref(rng, task_id))
        question = f"What should change in task {task_id}?"
    else:
        ref = rng.choice(fr.NO_ID_REFS).format(**values)
        request = rng.choice(fr.NO_ID_FRAMES[kind]).format(ref=ref, Ref=sf.as_title(ref), **values)
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
    judged on the same held-out cases. A request that the hand-written evaluation set contains is
    never emitted (short ones like "what's due tomorrow?" can come up by chance).
    """
    rng = random.Random(seed)
    makers, weights = zip(*MAKERS)
    seen: set[str] = set(held_out_requests())
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
    """A hash of the code and words the dataset is made from, and of the set it must stay clear of:
    `ftpack ship` regenerates its data when any of them changes (a new ftpack, an edited vocabulary)."""
    package = Path(__file__).resolve().parent.parent
    sources = sorted((package / "data").glob("*.py")) + [package / "taskapi.py", package / "evalsets" / "handwritten.jsonl"]
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_dataset(out_dir: str | Path, seed: int, n_train: int, n_val: int, n_test: int) -> dict[str, int]:
    """Write train/val/test.jsonl (chat form) and val/test_cases.jsonl (case form) into out_dir."""
    out = Path(out_dir)
    splits = generate(seed, n_train, n_val, n_test)
    files = {f"{name}.jsonl": _jsonl([chat_row(*row) for row in rows]) for name, rows in splits.items()}
    for name in ("val", "test"):
        files[f"{name}_cases.jsonl"] = _jsonl(
            [case_row(f"{name}-{i:04d}", *row) for i, row in enumerate(splits[name], 1)])
    write_files_atomic(out, files)  # all five or none: the case files always match their splits
    return {name: text.count("\n") for name, text in files.items()}
