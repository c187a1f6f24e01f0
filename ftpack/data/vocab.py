"""The words titles are composed from: verbs x objects x complements, people, places, numbers.

Titles are composed rather than picked from a list so that most held-out titles contain words the
model never saw in training: it has to learn to copy a span, not to recall a title. Each verb
takes objects of the categories it fits, so composed titles read like things people write.
Some objects and complements are traps on purpose: operation words ("update", "delete",
"complete", "list"), priority and date words, and numbers that are neither ids nor dates.
"""

from __future__ import annotations

import random
from functools import lru_cache

from ftpack.errors import FtpackError

PEOPLE = [
    "mom", "mum", "dad", "grandma", "grandpa", "the plumber", "the electrician", "the landlord", "the dentist",
    "the vet", "the bank", "the accountant", "the school", "the garage", "the insurance company", "the council",
    "Priya", "Tomás", "Dr. Achebe", "Aunt Maggie", "uncle Joe", "Mr. Haddad", "Ms Kowalski", "Jo from HR",
    "the babysitter", "Kenji", "Fatima", "Sven", "coach Riley", "the pharmacy", "IT support", "the tutor",
    "the contractor", "my sister", "the neighbours", "Olu", "Ana-Lucía", "the recruiter", "Dr Patel",
    "the estate agent", "the DVLA", "Chloé", "the optician", "Grace and Ben", "customer service", "the courier",
]

PLACES = [
    "the cellar", "the attic", "the garage", "the shed", "the back garden", "the office", "the spare room",
    "the kitchen", "Lisbon", "Porto", "the cabin", "the allotment", "Leeds", "the warehouse", "the studio",
    "the community centre", "the lab", "Room 12B", "flat 4", "the hallway", "the loft", "the basement",
]

# (verb, categories of objects it takes)
VERBS = [
    ("call", "person"), ("phone", "person"), ("ring", "person"), ("text", "person"), ("email", "person"),
    ("message", "person"), ("ask", "person"), ("thank", "person"), ("visit", "person"), ("invite", "person"),
    ("pay", "person bill"), ("chase", "person doc"), ("meet", "person"), ("follow up with", "person"),
    ("buy", "thing gift food"), ("order", "thing food gift"), ("pick up", "thing food gift doc"),
    ("return", "thing doc"), ("get", "thing food gift"), ("replace", "thing fixture"), ("fix", "fixture thing bug"),
    ("repair", "fixture thing"), ("clean", "fixture room thing"), ("paint", "fixture room"),
    ("repaint", "fixture room"), ("assemble", "thing"), ("sell", "thing"), ("donate", "thing"),
    ("wash", "thing room"), ("service", "fixture vehicle"), ("descale", "fixture"), ("polish", "thing"),
    ("sharpen", "thing"), ("charge", "thing"), ("defrost", "fixture"), ("re-grout", "room fixture"),
    ("winterize", "fixture vehicle"), ("tidy", "room"), ("declutter", "room"), ("vacuum", "room"),
    ("sort out", "room doc thing"), ("check", "fixture vehicle doc"), ("inspect", "fixture vehicle"),
    ("pay", "bill"), ("file", "doc"), ("submit", "doc"), ("renew", "doc sub"), ("cancel", "sub event"),
    ("sign", "doc"), ("print", "doc"), ("scan", "doc"), ("send", "doc gift"), ("review", "doc bug"),
    ("update", "doc"), ("read", "doc"), ("draft", "doc"), ("finish", "doc"), ("prepare", "doc food event"),
    ("write", "doc"), ("translate", "doc"), ("proofread", "doc"), ("notarise", "doc"), ("archive", "doc"),
    ("book", "event"), ("schedule", "event"), ("reschedule", "event"), ("confirm", "event"),
    ("plan", "event"), ("organise", "event room"), ("organize", "event room"), ("register for", "event"),
    ("sign up for", "event"), ("bake", "food"), ("cook", "food"), ("make", "food"), ("water", "plant"),
    ("repot", "plant"), ("prune", "plant"), ("feed", "pet plant"), ("walk", "pet"), ("groom", "pet"),
    ("take", "pet vehicle"), ("deploy", "bug"), ("debug", "bug"), ("close", "bug"), ("merge", "bug"),
    ("back up", "thing"), ("delete", "data"), ("clear out", "data room"), ("complete", "doc"), ("list", "thing"),
    ("back up", "data"), ("upload", "data"), ("export", "data"), ("defrag", "thing"), ("cancel", "sub"),
    ("read", "media"), ("watch", "media"), ("listen to", "media"), ("return", "media"), ("finish", "media"),
    ("top up", "card"), ("cancel", "card"), ("check the balance on", "card"), ("move", "thing"),
    ("forward", "doc bill"), ("recycle", "thing"), ("label", "thing"), ("measure", "room fixture"),
]

OBJECTS = {
    "person": PEOPLE,
    "bill": [
        "the electricity bill", "the water bill", "rent", "the council tax", "invoice #5820", "the phone bill",
        "the credit card bill", "the nursery fees", "the parking fine", "the vet bill", "invoice 2024-117",
        "the gas bill", "the internet bill", "the window cleaner", "the TV licence", "the HOA dues",
    ],
    "thing": [
        "printer ink", "a new charger", "the laptop", "the bike", "running shoes", "the old sofa", "the kids' bikes",
        "the camera batteries", "5 reams of printer paper", "2 medium hoodies", "the garden hose", "the lawnmower",
        "a 10m extension cable", "the knives", "the hiking boots", "the iPad", "the spare keys", "the tent",
        "the baby monitor", "the Kindle", "the coffee grinder", "the winter tyres", "the air fryer", "the drill",
        "the chess set", "the router", "AA batteries", "the ski jackets", "the NAS drive", "the old monitors",
        "the silver candlesticks", "a 6-pack of light bulbs", "the blender", "the PS5", "the violin strings",
    ],
    "gift": [
        "a birthday present for Sarah", "flowers for Anna", "a gift for dad", "a card for Mike's retirement",
        "a wedding gift for Lena and Raj", "chocolates for the nurses", "a teacher's gift", "a housewarming plant",
    ],
    "food": [
        "milk", "groceries", "coffee beans", "a birthday cake", "sourdough", "the lasagne", "oat milk",
        "dog food", "pizza for the party", "lunch for the team", "the Christmas turkey", "gluten-free flour",
        "eggs and butter", "snacks for the road trip", "a fruit platter", "tahini",
    ],
    "fixture": [
        "the water heater", "the leaking tap", "the coffee machine", "the smoke alarms", "the fence", "the gutters",
        "the dishwasher", "the shower head", "the garage door", "the fridge", "the freezer", "the radiator",
        "the extractor fan", "the washing machine filter", "the doorbell", "the thermostat", "the windows",
        "the bathroom sink", "the loose stair rail", "the patio doors", "the outdoor tap", "the chimney",
    ],
    "room": ["the garage", "the loft", "the spare room", "the kitchen", "the bathroom", "the shed", "the hallway",
             "the living room", "the basement", "the kids' room", "my desk", "the porch"],
    "vehicle": ["the car", "the van", "the motorbike", "the e-bike", "the tyres", "the caravan", "the brakes"],
    "doc": [
        "the quarterly report", "the expense report", "my tax return", "the lease agreement", "the H2 forecast",
        "the passport application", "the permission slip", "the grant proposal", "chapter 3", "the contract",
        "the meeting notes", "the budget spreadsheet", "my CV", "the cover letter", "the insurance claim",
        "the visa forms", "the timesheet", "the slides for Monday's meeting", "the newsletter", "PR 518",
        "the release notes for v2.1", "the onboarding checklist", "the blog post", "the thesis draft",
        "the brochure", "the RFP response", "form W-9", "the safety audit", "the P60", "the urgent-care paperwork",
        "the priority list", "the delivery note", "my driving licence", "the car insurance", "the domain name",
        "the warranty card", "the minutes from Tuesday", "the school report", "the home insurance quote",
    ],
    "sub": ["the gym membership", "Netflix", "the Spotify family plan", "the magazine subscription",
            "the AWS reserved instances", "the parking permit", "the library card", "the Adobe licence"],
    "event": [
        "a dentist appointment", "the team offsite", "flights to Lisbon", "a table for dinner", "a car service",
        "the vet appointment", "a haircut", "the conference room", "the 10k run", "a yoga class", "the MOT",
        "the parents' evening", "a flu jab", "the kickoff meeting", "the hotel in Porto", "the train to Leeds",
        "a call with the recruiter", "the sprint retro", "piano lessons", "a physio session", "the boat trip",
        "the tasting menu at Noma", "the eye test", "swimming lessons for Leo", "the 1:1 with Sam",
    ],
    "plant": ["the plants", "the tomatoes", "the orchids", "the herb garden", "the lawn", "the hedge", "the roses",
              "the bonsai", "the sourdough starter"],
    "pet": ["the dog", "the cat", "the rabbits", "Biscuit", "the fish", "the hamster"],
    "bug": ["bug 3317", "the login bug", "issue #88", "the checkout bug", "ticket 4410", "the flaky test",
            "PR 1207", "the memory leak"],
    # Names in quotes: the title keeps them, quotes and all.
    "media": ["'The Hobbit'", '"Atomic Habits"', "the 'Planet Earth' episodes", "season 2 of 'Slow Horses'",
              "the \"Intro to Rust\" course", "'Dune: Part Two'", "the audiobook of 'Circe'", "chapter 7 of 'SICP'",
              "the 'Serial' podcast", "the DVD of \"Paddington 2\"", "the Duolingo lesson"],
    "card": ["the Oyster card", "the gift card", "the prepaid SIM", "the travel card", "the lunch card",
             "the parking meter app", "the kids' school account"],
    "data": ["old photos from my phone", "the old backups", "the spam folder", "duplicate files", "my browser history",
             "the downloads folder", "the 2019 invoices", "old emails"],
}

# What a complement starts with, and the kinds of words that follow it (OBJECTS' categories too).
PREPOSITIONS = [
    ("to", "person place"), ("for", "person event doc"), ("with", "person thing"), ("at", "place"),
    ("in", "place room"), ("from", "person place"), ("about", "doc bill event"), ("before", "event"),
    ("after", "event"), ("on", "vehicle thing"), ("into", "room place"), ("near", "place"),
    ("for", "pet plant"), ("behind", "fixture"), ("under", "fixture"), ("next to", "fixture thing"),
]

COMPLEMENTS = [
    "by genre", "by size", "by hand", "online", "properly", "again", "first thing", "in bulk", "for £{n}",
    "for ${n}", "with €{n}", "under {n} quid", "x{n}", "({n} of them)", "in {n}mm", "at {n}°C",
    "for the next {n} weeks", "for {n} minutes", "every {n} km", "to {n}%", "in pencil", "before it rains",
    "in the boiler room", "in the attic", "for the Q3 review", "with Priya", "at the community centre",
    "before the inspection", "from the attic", "on the bike", "for the bake sale", "about the heating",
    "about the card", "for Leo's party", "at the weekend market", "in Room 12B", "for the kids", "for work",
    "after the school run", "on the shared drive", "with the new supplier", "for grandma", "in the garden",
    "about the refund", "for the Lisbon trip", "at the front desk", "with two coats of varnish", "for 6 people",
    "to the tip", "on eBay", "at the post office", "for the new starter", "by the back door", "from Amazon",
    "about the 3 missing parcels", "for the 40th", "in the shed", "before the guests arrive", "with the team",
    "to the charity shop", "about the leak", "for tax purposes", "at Halfords", "on the landing",
]

FIXED_TITLES = [
    "water the plants", "walk the dog", "take out the trash", "mow the lawn", "file my taxes", "pay rent",
    "study for the exam", "practice piano", "meal prep for the week", "book flights to lisbon", "go for a run",
    "clean out the fridge", "change the bed sheets", "sort the recycling", "do the laundry", "iron my shirts",
    "get a haircut", "check in for the flight", "pack for the trip", "go to the gym", "back up my laptop",
    "update the CV", "delete the old voicemails", "complete the survey", "list the books for the swap shop",
    "finish the Friday newsletter", "write the monday standup notes", "prep for the 9am call",
    "move the couch", "pay the 2 parking tickets", "get 4 tyres fitted", "buy tickets for the 7:30 show",
    "watch lecture 12", "read pages 40-65", "post the 3 parcels", "send the 2025 budget to finance",
    "dentist", "haircut", "mum's birthday", "gym", "physio", "bin day", "school run", "payroll", "parents' evening",
]

# Numbered things inside titles: "{n}" becomes a random number, so the model learns that an
# invoice, ticket or room number belongs to the title and is neither a task id nor a date.
NUMBERED = [
    "invoice #{n}", "ticket #{n}", "PR #{n}", "order #{n}", "bug {n}", "issue {n}", "room {n}", "flat {n}",
    "case no. {n}", "policy {n}", "the {n} boxes", "{n} chairs", "{n} bags of compost", "{n} copies of the agenda",
    "batch {n}", "the form {n}B", "desk {n}", "bus {n}", "unit {n}", "version {n}.2", "the {n} invites",
    "shelf {n}", "plant #{n}", "page {n}", "pg {n}", "step {n}", "locker {n}", "bay {n}", "seat {n}",
    "bug #{n}", "row {n}", "the {n}mm screws", "level {n}", "gate {n}", "the {n}th floor",
]

TAGS = [
    "work", "home", "personal", "errands", "health", "finance", "family", "shopping", "school", "garden",
    "car", "kids", "travel", "admin", "fitness", "pets", "q4", "side-project", "diy", "urgent-fixes", "uni",
    "house", "bills", "church", "volunteering", "clients", "hobby", "music", "reading", "wedding", "moving",
    "taxes", "dev", "ops", "marketing", "kitchen", "baby", "photos", "cleaning", "appointments",
]
# People tag with their own words ("ferments", "woodwork": a quarter of the hand-written set's tags
# are in no list): a model that saw only TAGS swaps an unknown tag for a listed look-alike
# ("football" -> "finance", "ferments" -> "fruits": measured), so some tags are any word.
OPEN_TAG_SHARE = 0.35


# ------------------------------------------------------------------------- open vocabulary
# Words no list above has: titles people type are full of them ("investigate the memory leak",
# "hoover the stairs", "learn the ukulele"), and a model that saw only the lists above rewrites
# rare words into ones it knows ("Invest", "Hover"). wordfreq (its data frozen since 3.1, when the
# project stopped updating it) ranks English words by use; ranks 1,500-30,000 are words people know but a
# small fine-tune set would not contain. Words that carry meaning for the call itself (dates,
# priorities, operations) are left out here: trap words are placed on purpose, not by chance.
OPEN_WORD_RANKS = (1500, 30000)
_CALL_WORDS = frozenset(
    "today tonight tomorrow yesterday week weeks weekend month months day days morning evening afternoon night "
    "monday tuesday wednesday thursday friday saturday sunday mon tue wed thu fri sat sun next last "
    "january february march april may june july august september october november december "
    "urgent urgently asap important critical priority high low medium normal rush whenever someday eventually "
    "task tasks todo delete remove update complete completed done finished list show clarify due deadline "
    "tag tags tagged label remind reminder".split())
# Words a training title should not put in a user's mouth.
_UNWANTED = frozenset("porn porno fuck fucking fucked shit bitch cunt twat dick cock pussy nigga nigger slut "
                      "whore rape raped sex sexy nude naked penis vagina anal dildo".split())


@lru_cache(maxsize=1)
def open_words() -> tuple[str, ...]:
    """Rare-but-real English words, in wordfreq's rank order (deterministic for a wordfreq version)."""
    try:
        import wordfreq
    except ImportError:
        raise _wordfreq_missing() from None
    low, high = OPEN_WORD_RANKS
    return tuple(w for w in wordfreq.top_n_list("en", high)[low:]
                 if w.isalpha() and w.isascii() and len(w) >= 4 and w not in _CALL_WORDS and w not in _UNWANTED)


def tag_names(rng: random.Random, count: int) -> list[str]:
    """count distinct tags: from TAGS, or now and then any word."""
    tags: list[str] = []
    while len(tags) < count:
        tag = rng.choice(open_words() if rng.random() < OPEN_TAG_SHARE else TAGS)
        if tag not in tags:
            tags.append(tag)
    return tags


def wordfreq_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wordfreq")
    except PackageNotFoundError:
        raise _wordfreq_missing() from None


def _wordfreq_missing() -> FtpackError:
    return FtpackError("the data generator needs wordfreq, which is not installed: "
                       "pip install 'wordfreq>=3.1,<4' (or rerun ./install.sh)")
