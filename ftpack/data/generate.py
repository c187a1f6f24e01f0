"""Generate the Task API dataset: chat rows for training and case rows for scoring.

Every row is built from parts whose meaning is known (a title, a date phrase, a priority cue,
tags, an id), put into one of many phrasings, so the expected call is right by construction.
Same seed -> byte-identical files: one random.Random drives everything and no set is iterated.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftpack import taskapi
from ftpack.fsutil import write_files_atomic

# What people ask to be reminded of, in their own words (the title keeps this wording).
TITLES = [
    "call the plumber", "water the plants", "buy milk", "pay the electricity bill", "book a dentist appointment",
    "renew my passport", "send the quarterly report", "pick up the dry cleaning", "call mom", "email the landlord",
    "fix the leaking tap", "submit the expense report", "walk the dog", "take out the trash", "prepare slides for monday's meeting",
    "order a birthday cake", "schedule a car service", "cancel the gym membership", "buy a gift for sarah", "clean the garage",
    "review the pull request", "update my resume", "call the bank about the card", "return the library books", "mow the lawn",
    "refill my prescription", "pay rent", "file my taxes", "book flights to lisbon", "reply to john's email",
    "buy printer ink", "defrost the freezer", "change the bed sheets", "vacuum the living room", "get a haircut",
    "pick up the kids from school", "send invoice to acme", "back up my laptop", "renew the car insurance", "buy dog food",
    "call the electrician", "water the garden", "write the project proposal", "plan the team offsite", "book a table for dinner",
    "check the smoke alarms", "buy groceries", "pay the credit card bill", "call grandma", "register for the 10k run",
    "clean out the fridge", "get the car washed", "sign the permission slip", "bake cookies for the bake sale", "call the insurance company",
    "study for the exam", "finish chapter 3", "practice piano", "schedule a vet appointment", "buy new running shoes",
    "organize the closet", "donate old clothes", "replace the air filter", "read the contract", "confirm the hotel booking",
    "set up the new router", "send thank you cards", "call the landlord about the heating", "buy batteries", "water the tomatoes",
    "clean the windows", "pay the water bill", "order new contact lenses", "fix the bike tire", "pick up a parcel at the post office",
    "prepare the budget", "call the school", "buy a present for dad", "check in for the flight", "pack for the trip",
    "update the website", "translate the brochure", "call the doctor", "make a doctor's appointment", "buy flowers for anna",
    "repaint the fence", "sort the recycling", "buy coffee beans", "print the boarding passes", "cancel netflix",
    "ask tom about the keys", "feed the cat", "call the vet", "submit the timesheet", "buy stamps",
    "write a blog post", "charge the camera batteries", "bring the laptop to repair", "renew the domain name", "buy a new charger",
    "wash the car", "call the plumber about the boiler", "tidy up the desk", "pay the phone bill", "iron my shirts",
    "sign up for the yoga class", "call the accountant", "meal prep for the week", "pick up the prescription", "buy toilet paper",
    "schedule the team retro", "send the contract to legal", "order pizza for the party", "check the tire pressure", "clean the bathroom",
    "return the amazon package", "buy a birthday card for mike", "book the conference room", "update the spreadsheet", "call the garage",
    "write to the council about the potholes", "get new glasses", "transfer money to savings", "plan the birthday party", "call uncle joe",
]

TAGS = ["work", "home", "personal", "errands", "health", "finance", "family", "shopping", "school", "garden",
        "car", "kids", "travel", "admin", "fitness", "pets", "q4", "side-project"]

PRIORITY_CUES = {
    "high": ["urgent", "URGENT", "asap", "ASAP", "high priority", "it's important", "top priority", "critical",
             "very important", "this is urgent", "priority high"],
    "low": ["low priority", "not important", "no rush", "whenever", "when you get a chance", "not urgent",
            "low prio", "someday", "no hurry", "priority low"],
    "medium": ["medium priority", "normal priority", "priority medium", "medium prio"],
}

CREATE_TEMPLATES = [
    "{t}{d}{p}{g}",
    "remind me to {t}{d}{p}{g}",
    "Remind me to {t}{d}{p}{g}",
    "I need to {t}{d}{p}{g}",
    "i have to {t}{d}{p}{g}",
    "can you add a task to {t}{d}{p}{g}?",
    "Could you add a task to {t}{d}{p}{g}",
    "add a task: {t}{d}{p}{g}",
    "new task: {t}{d}{p}{g}",
    "please remind me to {t}{d}{p}{g}",
    "don't let me forget to {t}{d}{p}{g}",
    "todo: {t}{d}{p}{g}",
    "note to self - {t}{d}{p}{g}",
    "put {t} on my list{d}{p}{g}",
    "add {q} to my tasks{d}{p}{g}",
    "create a task {q}{d}{p}{g}",
    "new task {q}{d}{p}{g}",
    "I should {t}{d}{p}{g}",
    "remember to {t}{d}{p}{g}",
    "make a note that I need to {t}{d}{p}{g}",
    "{t}{d}{p}{g} please",
    "set a reminder to {t}{d}{p}{g}",
]

CONTEXT_PREFIXES = ["hey, ", "ok so ", "quick one: ", "ugh, busy week. ", "hi! ", "so ", "btw ", "morning! ",
                    "before I forget: ", "one more thing - "]
CONTEXT_SUFFIXES = [" thanks", " thank you!", " - it's been on my mind", ", cheers", " :)", ". thx"]

# Misspellings applied to filler words only: titles, dates and tags keep their exact text.
TYPOS = {"remind": ["remnd", "remidn", "rmind"], "please": ["pls", "plz", "pleas"], "task": ["taks", "tsak"],
         "need": ["ned", "neeed"], "forget": ["forgt", "foget"], "could": ["cuold"], "tasks": ["taks"],
         "delete": ["delte", "deleet"], "complete": ["compelte"], "change": ["chnage"], "show": ["shwo"]}


@dataclass
class DatePhrase:
    text: str  # the phrase the assistant copies into due_date
    lead: str  # words before it in the request ("by ", "on ", "due ")


def _weekday_phrase(rng: random.Random) -> str:
    day = rng.choice(taskapi.WEEKDAYS)
    day = day[:3] if rng.random() < 0.15 else day
    day = day.capitalize() if rng.random() < 0.4 else day
    return rng.choice(["{}", "next {}", "this {}"]).format(day)


def _month_day_phrase(rng: random.Random, today: dt.date) -> str:
    date = today + dt.timedelta(days=rng.randint(1, 200))
    month = date.strftime("%B")
    month = month[:3] if rng.random() < 0.5 else month
    month = month.lower() if rng.random() < 0.3 else month
    day = str(date.day)
    if rng.random() < 0.3:
        day += {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}.get(date.day, "th")
    if rng.random() < 0.5:
        phrase = f"{month} {day}"
    else:
        phrase = f"{day} {month}"
    if rng.random() < 0.15:
        phrase += f", {date.year}" if phrase[0].isalpha() else f" {date.year}"
    return phrase


def random_date_phrase(rng: random.Random, today: dt.date) -> DatePhrase | None:
    kind = rng.choices(
        ["none", "today", "tomorrow", "after", "weekday", "next_week", "in_n", "eom", "month_day", "iso"],
        [28, 6, 14, 3, 16, 4, 9, 3, 12, 5])[0]
    if kind == "none":
        return None
    if kind == "today":
        return DatePhrase(rng.choice(["today", "tonight", "this evening", "this afternoon"]), rng.choice(["", "by "]))
    if kind == "tomorrow":
        return DatePhrase(rng.choice(["tomorrow"] * 4 + ["tomorrow morning", "tomorrow evening"]),
                          rng.choice(["", "", "by "]))
    if kind == "after":
        return DatePhrase("the day after tomorrow", "")
    if kind == "weekday":
        return DatePhrase(_weekday_phrase(rng), rng.choice(["", "on ", "by "]))
    if kind == "next_week":
        return DatePhrase("next week", rng.choice(["", "by "]))
    if kind == "in_n":
        unit = rng.choice(["day", "week"])
        n = rng.randint(1, 12 if unit == "day" else 4)
        words = ["a", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
        count = (("a" if rng.random() < 0.5 else "one") if n == 1 else
                 (str(n) if rng.random() < 0.6 else words[n]))
        return DatePhrase(f"in {count} {unit}{'s' if n > 1 else ''}", "")
    if kind == "eom":
        return DatePhrase(rng.choice(["end of the month", "end of month"]), rng.choice(["by ", "by the "]))
    if kind == "month_day":
        return DatePhrase(_month_day_phrase(rng, today), rng.choice(["on ", "by ", "due ", ""]))
    date = today + dt.timedelta(days=rng.randint(0, 120))
    return DatePhrase(date.isoformat(), rng.choice(["on ", "by ", "due "]))


def _typo(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.lower().strip(":,?") in TYPOS]
    if not candidates:
        return text
    i = rng.choice(candidates)
    core = words[i].lower().strip(":,?")
    words[i] = words[i].lower().replace(core, rng.choice(TYPOS[core]))
    return " ".join(words)


def _styled(rng: random.Random, template: str) -> str:
    """Filler variety that cannot touch the slots: typos, context before and after."""
    if rng.random() < 0.15:
        template = _typo(rng, template)
    if rng.random() < 0.15:
        template = rng.choice(CONTEXT_PREFIXES) + template
    if rng.random() < 0.1:
        template = template + rng.choice(CONTEXT_SUFFIXES)
    return template


def _tags_phrase(rng: random.Random, tags: list[str]) -> str:
    if not tags:
        return ""
    style = rng.randrange(5)
    if style == 0:
        return " " + " ".join("#" + t for t in tags)
    if style == 1:
        return ", tags: " + ", ".join(tags)
    if style == 2:
        return f", tag it {' and '.join(tags)}" if len(tags) <= 2 else ", tag it " + ", ".join(tags)
    if style == 3:
        return f" (label: {', '.join(tags)})"
    return " under " + " and ".join(tags) if len(tags) <= 2 else " #" + " #".join(tags)


def _priority_phrase(rng: random.Random, priority: str | None) -> str:
    if priority is None:
        return ""
    cue = rng.choice(PRIORITY_CUES[priority])
    return rng.choice([", " + cue, " - " + cue, " " + cue, ". " + cue.capitalize()])


def make_create(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    title = rng.choice(TITLES)
    date = random_date_phrase(rng, today)
    # Priority cues are what small models get wrong most (measured): give every level enough rows.
    priority = rng.choices([None, "high", "low", "medium"], [40, 25, 25, 10])[0]
    tags = rng.sample(TAGS, rng.choices([0, 1, 2, 3], [55, 28, 12, 5])[0])
    template = _styled(rng, rng.choice(CREATE_TEMPLATES))
    lowercase = rng.random() < 0.25
    date_text = date.text.lower() if (date and lowercase) else (date.text if date else None)
    title_text = title.capitalize() if (not lowercase and rng.random() < 0.1) else title
    request = template.format(
        t=title_text,
        q=rng.choice(['"{}"', "'{}'", "“{}”"]).format(title.capitalize() if not lowercase else title),
        d=f" {date.lead}{date_text}" if date else "",
        p=_priority_phrase(rng, priority),
        g=_tags_phrase(rng, tags),
    )
    if lowercase:
        request = request.lower()
    call = {"action": "create_task", "title": title[0].upper() + title[1:], "due_date": date_text,
            "priority": priority or "medium", "tags": tags}
    return request, call


def _task_ref(rng: random.Random, task_id: int) -> str:
    return rng.choice([f"task {task_id}", f"task #{task_id}", f"#{task_id}", f"task number {task_id}",
                       f"item {task_id}"])


def make_update(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    task_id = rng.randint(1, 250)
    ref = _task_ref(rng, task_id)
    kind = rng.choice(["priority", "due", "title", "tags", "priority_due"])
    changes: dict[str, Any] = {}
    if kind in ("priority", "priority_due"):
        changes["priority"] = rng.choice(taskapi.PRIORITIES)
    if kind in ("due", "priority_due"):
        date = random_date_phrase(rng, today) or DatePhrase("tomorrow", "")
        changes["due_date"] = date.text
    if kind == "title":
        changes["title"] = rng.choice(TITLES).capitalize()
    if kind == "tags":
        changes["tags"] = rng.sample(TAGS, rng.randint(1, 2))
    if kind == "priority":
        template = rng.choice(["change the priority of {r} to {p}", "set {r} to {p} priority", "make {r} {p} priority",
                               "{r} should be {p} priority", "update {r}: priority {p}"])
    elif kind == "due":
        template = rng.choice(["move {r} to {d}", "push {r} to {d}", "{r} is now due {d}", "change the due date of {r} to {d}",
                               "reschedule {r} for {d}"])
    elif kind == "title":
        template = rng.choice(['rename {r} to "{n}"', "change the title of {r} to {n}", "{r} should be called '{n}'",
                               'update {r} title: "{n}"'])
    elif kind == "tags":
        template = rng.choice(["tag {r} as {g}", "set the tags of {r} to {g}", "{r} tags: {g}", "label {r} {g}"])
    else:
        template = rng.choice(["make {r} {p} priority and move it to {d}", "{r}: {p} priority, due {d}",
                               "change {r} to {p} priority and due {d}"])
    template = _styled(rng, template)
    request = template.format(r=ref, p=changes.get("priority", ""), d=changes.get("due_date", ""),
                              n=changes.get("title", ""), g=" and ".join(changes.get("tags", [])))
    if rng.random() < 0.2:
        request = request.lower()
        changes = {k: (v.lower() if isinstance(v, str) else v) for k, v in changes.items()}
    return request, {"action": "update_task", "task_id": task_id, "changes": changes}


def make_complete(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    task_id = rng.randint(1, 250)
    template = _styled(rng, rng.choice([
        "mark {r} as done", "I finished {r}", "complete {r}", "{r} is done", "check off {r}", "done with {r}",
        "mark {r} complete", "i did {r}, mark it done", "close {r}, it's finished", "{r} done ✅"]))
    return template.format(r=_task_ref(rng, task_id)), {"action": "complete_task", "task_id": task_id}


def make_delete(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    task_id = rng.randint(1, 250)
    template = _styled(rng, rng.choice([
        "delete {r}", "remove {r}", "get rid of {r}", "cancel {r}, not needed anymore", "please delete {r}",
        "drop {r} from my list", "trash {r}", "{r} can be deleted", "erase {r}"]))
    return template.format(r=_task_ref(rng, task_id)), {"action": "delete_task", "task_id": task_id}


def make_list(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    call: dict[str, Any] = {"action": "list_tasks"}
    kind = rng.choice(["all", "open", "done", "priority", "due", "open_priority"])
    if kind == "all":
        request = rng.choice(["show my tasks", "list all my tasks", "what's on my list?", "what do I have to do?",
                              "show me everything on my todo list", "list tasks"])
    elif kind == "open":
        call["status"] = "open"
        request = rng.choice(["what's still open?", "list open tasks", "show unfinished tasks", "what haven't I done yet?",
                              "show my open tasks"])
    elif kind == "done":
        call["status"] = "done"
        request = rng.choice(["show completed tasks", "what have I finished?", "list done tasks",
                              "which tasks are done?", "show me what I completed"])
    elif kind == "priority":
        call["priority"] = rng.choice(taskapi.PRIORITIES)
        request = rng.choice(["show {p} priority tasks", "list my {p} priority tasks", "what's {p} priority?",
                              "which tasks are {p} priority?"]).format(p=call["priority"])
    elif kind == "due":
        date = random_date_phrase(rng, today) or DatePhrase("today", "")
        call["due_date"] = date.text
        request = rng.choice(["what's due {d}?", "show tasks due {d}", "list everything due {d}",
                              "what do I have {d}?"]).format(d=date.text)
    else:
        call["status"] = "open"
        call["priority"] = rng.choice(taskapi.PRIORITIES)
        request = rng.choice(["show open {p} priority tasks", "which {p} priority tasks are still open?",
                              "list unfinished {p} priority tasks"]).format(p=call["priority"])
    request = _styled(rng, request)
    if rng.random() < 0.2:
        request = request.lower()
        call = {k: (v.lower() if isinstance(v, str) else v) for k, v in call.items()}
    return request, call


CLARIFY = [
    (["delete my task", "remove the task", "delete it", "get rid of that task", "cancel the task"],
     "Which task should I delete? Please give its id."),
    (["mark it as done", "I finished the task", "complete my task", "mark the task complete", "that one is done"],
     "Which task did you complete? Please give its id."),
    (["change the priority", "update the task", "move the task to friday", "rename the task", "make it urgent"],
     "Which task should I update? Please give its id."),
    (["remind me", "add a task", "create a new task", "remind me tomorrow", "new task please"],
     "What should the task be?"),
]


def make_clarify(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    requests, question = rng.choice(CLARIFY)
    return _styled(rng, rng.choice(requests)), {"action": "clarify", "question": question}


MAKERS = [(make_create, 60), (make_update, 11), (make_complete, 8), (make_delete, 7), (make_list, 10),
          (make_clarify, 5)]


def random_today(rng: random.Random) -> dt.date:
    start = dt.date(2025, 1, 1)
    return start + dt.timedelta(days=rng.randint(0, (dt.date(2027, 12, 31) - start).days))


def chat_row(today: dt.date, request: str, call: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [
        {"role": "system", "content": taskapi.system_prompt(today)},
        {"role": "user", "content": request},
        {"role": "assistant", "content": taskapi.dumps(call)},
    ]}


def case_row(case_id: str, today: dt.date, request: str, call: dict[str, Any]) -> dict[str, Any]:
    """The case form: expected with defaults filled in and due dates resolved to ISO dates."""
    expected = taskapi.fill_defaults(call)
    for holder in (expected, expected.get("changes")):
        if isinstance(holder, dict) and isinstance(holder.get("due_date"), str):
            holder["due_date"] = taskapi.resolve_due_date(holder["due_date"], today).isoformat()
    return {"id": case_id, "today": today.isoformat(), "request": request, "expected": expected}


def generate(seed: int, n_train: int, n_val: int, n_test: int) -> dict[str, list[tuple[dt.date, str, dict]]]:
    """Rows per split as (today, request, call); no request text appears in two splits.

    Test rows are drawn first and validation rows next, so a bigger training set (same seed) is
    judged on the same held-out cases.
    """
    rng = random.Random(seed)
    makers, weights = zip(*MAKERS)
    seen: set[str] = set()
    rows: list[tuple[dt.date, str, dict]] = []
    total = n_train + n_val + n_test
    attempts = 0
    while len(rows) < total:
        attempts += 1
        if attempts > total * 50:
            raise RuntimeError("could not generate enough distinct requests; lower the split sizes")
        today = random_today(rng)
        request, call = rng.choices(makers, weights)[0](rng, today)
        key = " ".join(request.casefold().split())
        if key in seen:
            continue
        seen.add(key)
        taskapi.validate_call(call, today)
        rows.append((today, request, call))
    return {"test": rows[:n_test], "val": rows[n_test:n_test + n_val], "train": rows[n_test + n_val:]}


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
