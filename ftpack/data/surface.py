"""Surface forms: how people write a title, a date, a priority, tags and a task id.

Each attribute has a value the assistant must produce (a date phrase from the contract's grammar,
a priority, tag names) and many ways to say it, in several positions: after the title, before it
("High priority: book the venue", "Tomorrow I must ..."), inside the frame ("remind me on May 3
to ..."), or in a sentence of its own ("Tags: home, diy. Low priority."). Which form and which
position are drawn independently, so the model learns what an attribute looks like, not where
the generator tends to put it.
"""

from __future__ import annotations

import datetime as dt
import random

from ftpack import taskapi
from ftpack.data import vocab

# ------------------------------------------------------------------------------------- titles
def compose_title(rng: random.Random) -> str:
    """A title in the user's words: verb + object(s) (+ complements), or a fixed everyday chore.

    Complements are composed too (a preposition and any person, place or object), and a title may
    join two objects or two verbs with "and": the model must learn to copy the user's whole span,
    not to stop where the complements it has seen end.
    """
    return " ".join(part for part in compose_title_parts(rng) if part)


def compose_title_parts(rng: random.Random) -> tuple[str, str]:
    """The title as (verb phrase, complements): ("email the landlord", "about the boiler"), or
    ("water the plants", "") without complements. People put a date between the two ("email the
    landlord tomorrow morning about the boiler"); the date is no part of the title."""
    if rng.random() < 0.1:
        return rng.choice(vocab.FIXED_TITLES), ""
    if rng.random() < 0.07:  # "learn to ...", "show Dad how to ...": the whole chain is the title
        lead = rng.choice(CHAINED_LEADS).format(p=rng.choice(vocab.PEOPLE))
        head, complements = compose_title_parts(rng)
        return f"{lead} {head}", complements
    verb, categories = rng.choice(vocab.VERBS)
    category = rng.choice(categories.split())
    if rng.random() < 0.06:
        # any word at all, not words picked for a verb's ending: a model shown "-ate"/"-ize" verbs
        # learned to put those endings on verbs it copies ("Recalakate", "Reupholize": measured)
        verb = rng.choice(vocab.open_words())
    obj = _object(rng, category)
    shape = rng.random()
    if shape < 0.08:  # "descale the kettle and the toaster"
        other = _object(rng, category)
        obj = obj if other == obj else f"{obj} and {other}"
    elif shape < 0.14:  # "clean and oil the bike chain", "sand the door and repaint it"
        partner = rng.choice([v for v, c in vocab.VERBS if category in c.split() and v != verb] or [verb])
        if partner != verb:
            joined = rng.choice([f"{verb} and {partner} {obj}", f"{verb} {obj} and {partner} it"])
            return _with_complements(rng, joined)
    return _with_complements(rng, f"{verb} {obj}")


# Verb phrases that lead into another one: "show Dad how to clear the browser cache".
CHAINED_LEADS = ["learn to", "learn how to", "try to", "figure out how to", "show {p} how to", "help {p}",
                 "ask {p} to", "get {p} to", "start to", "go and"]


def _object(rng: random.Random, category: str) -> str:
    if rng.random() < 0.12:
        return _open_object(rng)
    if rng.random() < 0.12:
        number = rng.choice([rng.randint(2, 60), rng.randint(100, 9999), rng.randint(10000, 99999)])
        return rng.choice(vocab.NUMBERED).format(n=number)
    return rng.choice(vocab.OBJECTS[category])


def _open_object(rng: random.Random) -> str:
    """An object of words from the open vocabulary: 'the sill', 'the wink threads', 'rugs'."""
    words = " ".join(rng.sample(vocab.open_words(), rng.choice([1, 1, 1, 2])))
    return rng.choice(["the {}", "the {}", "{}", "my {}", "some {}", "the new {}"]).format(words)


def _complement(rng: random.Random) -> str:
    if rng.random() < 0.1:
        preposition = rng.choice(["for", "with", "about", "from", "to", "in", "at"])
        return f"{preposition} {_open_object(rng)}"
    if rng.random() < 0.35:
        return rng.choice(vocab.COMPLEMENTS).format(n=rng.randint(2, 90))
    preposition, kinds = rng.choice(vocab.PREPOSITIONS)
    kind = rng.choice(kinds.split())
    pool = {"person": vocab.PEOPLE, "place": vocab.PLACES}.get(kind) or vocab.OBJECTS[kind]
    return f"{preposition} {rng.choice(pool)}"


def _with_complements(rng: random.Random, head: str) -> tuple[str, str]:
    count = rng.choices([0, 1, 2], [52, 36, 12])[0]
    return head, " ".join(_complement(rng) for _ in range(count))


def as_title(text: str) -> str:
    """The title the assistant writes: the user's span, first letter capitalized."""
    return text[:1].upper() + text[1:]


# -------------------------------------------------------------------------------------- dates
_NUMBER_WORDS = ["a", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve"]
_ORDINAL = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


def _cased(rng: random.Random, word: str) -> str:
    return word.capitalize() if rng.random() < 0.4 else word


def _month_day(rng: random.Random, today: dt.date) -> str:
    date = today + dt.timedelta(days=rng.randint(1, 240))
    month = date.strftime("%B")
    month = month[:3] if rng.random() < 0.45 else month
    month = month.lower() if rng.random() < 0.35 else month
    day = str(date.day) + (_ORDINAL.get(date.day, "th") if rng.random() < 0.3 else "")
    phrase = rng.choice([f"{month} {day}", f"{month} {day}", f"{day} {month}", f"the {day} of {month}"])
    if rng.random() < 0.12:
        phrase += f", {date.year}" if phrase[0].isalpha() and not phrase.startswith("the") else f" {date.year}"
    return phrase


def date_phrase(rng: random.Random, today: dt.date) -> str:
    """A due date as the contract's grammar writes it (what the assistant copies)."""
    kind = rng.choices(["today", "tomorrow", "after", "weekday", "next_week", "in_n", "eom", "month_day", "iso"],
                       [8, 18, 3, 22, 6, 12, 4, 20, 4])[0]
    if kind == "today":
        return rng.choice(["today", "today", "tonight", "this evening", "this afternoon", "this morning"])
    if kind == "tomorrow":
        return rng.choice(["tomorrow"] * 5 + ["tomorrow morning", "tomorrow evening", "tomorrow night"])
    if kind == "after":
        return rng.choice(["the day after tomorrow", "day after tomorrow"])
    if kind == "weekday":
        day = rng.choice(taskapi.WEEKDAYS)
        day = _cased(rng, day[:3] if rng.random() < 0.12 else day)
        return rng.choice(["{}", "{}", "next {}", "this {}"]).format(day)
    if kind == "next_week":
        return "next week"
    if kind == "in_n":
        unit = rng.choice(["day", "day", "week"])
        n = rng.randint(1, 12 if unit == "day" else 4)
        count = rng.choice(["a", "one"]) if n == 1 else (str(n) if rng.random() < 0.55 else _NUMBER_WORDS[n])
        return f"in {count} {unit}{'s' if n > 1 else ''}"
    if kind == "eom":
        return rng.choice(["end of the month", "end of month", "the end of the month", "end of this month"])
    if kind == "month_day":
        return _month_day(rng, today)
    return (today + dt.timedelta(days=rng.randint(0, 150))).isoformat()


def _date_lead(rng: random.Random, phrase: str) -> str:
    if phrase.startswith(("in ", "the ", "end", "this", "next week", "day after")):
        return rng.choice(["", "", "by "]) if not phrase.startswith("in ") else ""
    if phrase.startswith(("today", "tonight", "tomorrow")):
        return rng.choice(["", "", "", "by ", "for "])
    return rng.choice(["", "on ", "by ", "due ", "before ", "for ", "no later than "])


def spoken(rng: random.Random, phrase: str) -> str:
    """The date as typed: now and then a slang spelling of it."""
    if phrase.lower() in taskapi.SLANG_SPELLINGS and rng.random() < 0.15:  # the assistant writes the grammar's form
        return rng.choice(taskapi.SLANG_SPELLINGS[phrase.lower()])
    return phrase


def date_after(rng: random.Random, phrase: str) -> str:
    return rng.choice([" ", " ", ", ", " - "]) + _date_lead(rng, phrase) + spoken(rng, phrase)


def date_before(rng: random.Random, phrase: str) -> str:
    lead = _date_lead(rng, phrase).strip()
    text = f"{lead} {spoken(rng, phrase)}" if lead else spoken(rng, phrase)
    return as_title(text) + rng.choice([", ", ": ", " - ", " ", ", "])


def date_inside(rng: random.Random, phrase: str) -> str:
    """For frames with a slot before the title: 'remind me {on May 3} to ...'."""
    return _date_lead(rng, phrase) + phrase


def date_sentence(rng: random.Random, phrase: str) -> str:
    return rng.choice(["Due {}.", "Due: {}.", "Deadline: {}.", "It's due {}.", "Needs to be done by {}.",
                       "due {}", "Do it {}.", "When: {}.", "Date: {}."]).format(phrase)


# ---------------------------------------------------------------------------------- priority
PRIORITY_CUES = {
    "high": ["urgent", "URGENT", "asap", "ASAP", "high priority", "important", "top priority", "critical",
             "very important", "super urgent", "high prio", "priority high", "Urgent", "Important", "!!!",
             "!!", "asap pls", "top prio"],
    "low": ["low priority", "not important", "no rush", "whenever", "not urgent", "low prio", "someday",
            "no hurry", "whenever you can", "when you get a chance", "priority low", "Low priority", "whenevs",
            "nbd", "low pri", "eventually"],
    "medium": ["medium priority", "normal priority", "priority medium", "medium prio", "normal prio"],
}
# How people name a priority when they ask for a list ("anything urgent?", "low priority tasks")
LIST_PRIORITY_WORDS = {"high": ["urgent", "high priority", "important", "critical", "top priority", "high prio"],
                       "low": ["low priority", "not urgent", "low prio", "unimportant", "non-urgent"],
                       "medium": ["medium priority", "normal priority", "medium prio"]}


def priority_after(rng: random.Random, level: str) -> str:
    cue = rng.choice(PRIORITY_CUES[level])
    # " {}": the cue typed straight after the title ("renew my bus pass asap") is still no part of it
    form = rng.choice([", {}", " - {}", " ({})", ", {}!", ", {}", " {}", " {}"])
    return form.format(cue) if rng.random() < 0.85 else ". " + as_title(cue)


def priority_before(rng: random.Random, level: str) -> str:
    cue = rng.choice(PRIORITY_CUES[level])
    return rng.choice(["{}: ", "{} - ", "({}) ", "[{}] ", "{}! ", "{}, ", "{} / "]).format(as_title(cue) if rng.random() < 0.6
                                                                            else cue)


def priority_sentence(rng: random.Random, level: str) -> str:
    cue = rng.choice(PRIORITY_CUES[level])
    forms = {"high": ["It's urgent.", "Priority: High.", "This one is important.", "Mark it urgent.",
                      "High priority.", "Priority: high", "It's critical.", f"{as_title(cue)}."],
             "low": ["Low priority.", "No rush on this one.", "Not important.", "Priority: low.", "Priority: Low",
                     "It can wait, no rush.", f"{as_title(cue)}."],
             "medium": ["Medium priority.", "Priority: medium.", "Normal priority.", "Priority: Medium",
                        f"{as_title(cue)}."]}
    return rng.choice(forms[level])


# -------------------------------------------------------------------------------------- tags
def tags_after(rng: random.Random, tags: list[str]) -> str:
    style = rng.randrange(9)
    if style == 0:
        return " " + " ".join("#" + t for t in tags)
    if style == 1:
        return rng.choice([", tags: ", " tags: ", ", tag: ", " tag: "]) + ", ".join(tags)
    if style == 2:
        return rng.choice([", tag it ", " and tag it ", " - tag it "]) + " and ".join(tags)
    if style == 3:
        return f" (label: {', '.join(tags)})"
    if style == 4:
        return rng.choice([", tagged ", " tagged ", ", tagged as "]) + " and ".join(tags)
    if style == 5:
        return " " + "".join(f"[{t}]" for t in tags)
    if style == 6:
        return rng.choice([", with tag ", " with the tag ", ", with tags "]) + " and ".join(tags)
    return f" #{' #'.join(tags)}"


def tags_before(rng: random.Random, tags: list[str]) -> str:
    style = rng.randrange(6)
    if style >= 4:  # a clause, like a date's or a priority's: "tag it garden, by Sunday: mulch the beds"
        clause = rng.choice(["tag it {}", "tagged {}", "with tag {}", "tags {}", "label it {}", "Tag: {}"])
        return as_title(clause.format(" and ".join(tags))) + rng.choice([", ", ": ", " - ", ", "])
    if style == 0:
        return "".join(f"[{t}]" for t in tags) + " "
    if style == 1:
        return " ".join("#" + t for t in tags) + rng.choice([" ", " - ", ": "])
    if style == 2:
        return f"Tags: {', '.join(tags)}. "
    return f"({', '.join(tags)}) " if len(tags) > 1 else f"[{tags[0]}] "


def tags_sentence(rng: random.Random, tags: list[str]) -> str:
    return rng.choice(["Tags: {}.", "Tag it {}.", "Label: {}.", "Tags - {}", "Tag: {}", "Tagged {}."]).format(
        ", ".join(tags))


# ---------------------------------------------------------------------------------- task ids
def task_ref(rng: random.Random, task_id: int, bare_ok: bool = False) -> str:
    forms = [f"task {task_id}", f"task #{task_id}", f"#{task_id}", f"task number {task_id}", f"number {task_id}",
             f"item {task_id}", f"id {task_id}", f"task no. {task_id}", f"Task {task_id}", f"todo #{task_id}"]
    if bare_ok:
        forms += [str(task_id)] * 3
    return rng.choice(forms)


def random_task_id(rng: random.Random) -> int:
    return rng.randint(1, 400) if rng.random() < 0.9 else rng.randint(401, 9999)


# ------------------------------------------------------------------------------------ filler
CONTEXT_PREFIXES = ["hey, ", "ok so ", "quick one: ", "ugh, busy week. ", "hi! ", "so ", "btw ", "morning! ",
                    "before I forget: ", "one more thing - ", "hi there, ", "right, ", "Hello! ", "hmm ",
                    "sorry, another one: ", "Assistant, "]
CONTEXT_SUFFIXES = [" thanks", " thank you!", " - it's been on my mind", ", cheers", " :)", ". thx", " 🙏",
                    " please", ", ta", " ok?", ". Thanks in advance"]

# Misspellings of filler words only: titles, dates and tags keep their exact text.
TYPOS = {"remind": ["remnd", "remidn", "rmind"], "please": ["pls", "plz", "pleas"], "task": ["taks", "tsak"],
         "need": ["ned", "neeed"], "forget": ["forgt", "foget"], "could": ["cuold", "coudl"], "tasks": ["taks"],
         "delete": ["delte", "deleet"], "complete": ["compelte"], "change": ["chnage"], "show": ["shwo"],
         "remember": ["rember", "remeber"], "have": ["hav"], "mark": ["makr"], "should": ["shoud"]}


def typo(rng: random.Random, frame: str) -> str:
    """Misspell one filler word of a frame (placeholders are never touched)."""
    words = frame.split(" ")
    candidates = [i for i, w in enumerate(words) if w.lower().strip(":,?") in TYPOS and "{" not in w]
    if not candidates:
        return frame
    i = rng.choice(candidates)
    core = words[i].lower().strip(":,?")
    words[i] = words[i].lower().replace(core, rng.choice(TYPOS[core]))
    return " ".join(words)


def with_context(rng: random.Random, request: str) -> str:
    if rng.random() < 0.12:
        request = rng.choice(CONTEXT_PREFIXES) + request
    if rng.random() < 0.1:
        request = request + rng.choice(CONTEXT_SUFFIXES)
    return request
