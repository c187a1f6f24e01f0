"""The words around a request's parts: frames per operation, the forms of list filters, no-id references.

Each frame is a format string; generate.py fills its slots ({t} title, {d} date, {r} task reference,
{x} what a task is about, {why} a reason, ...) with parts whose meaning is known.
"""

# Frames around a title; {d} marks frames with a slot for a date before the title.
CREATE_FRAMES = [
    "{t}", "{t}", "{t}", "{t}", "{t}", "{t}", "{t}", "remind me to {t}", "Remind me to {t}", "I need to {t}", "i have to {t}", "need to {t}",
    "can you add a task to {t}?", "Could you add a task to {t}", "add a task: {t}", "new task: {t}",
    "please remind me to {t}", "don't let me forget to {t}", "todo: {t}", "TODO {t}", "note to self - {t}",
    "put {t} on my list", "add \"{t}\" to my tasks", "create a task '{t}'", "new task “{t}”", "I should {t}",
    "remember to {t}", "make a note that I need to {t}", "{t} please", "set a reminder to {t}", "gotta {t}",
    "must {t}", "I must {t}", "Task: {t}", "add: {t}", "pls add {t}", "make sure I {t}", "reminder: {t}",
    "we need to {t}", "I want to {t}", "can you remind me to {t}", "Add a task to {t}.", "- {t}",
    "remind me {d} to {t}", "{d} I need to {t}", "{d} remind me to {t}", "I have to {t}",
    # typed in a hurry
    "remind me 2 {t}", "need 2 {t}", "gotta {t} lol", "omg i need to {t}", "dont forget 2 {t}",
    "{t} pls", "{t} thx", "u gotta remind me to {t}", "must remember 2 {t}", "hav to {t}",
]
LIST_WORDS = {"open": ["still open", "open", "unfinished", "not done yet", "pending", "outstanding", "left to do",
                       "incomplete", "not done", "still to do", "I haven't done yet", "not finished"],
              "done": ["done", "finished", "completed", "ticked off", "closed"]}


COMPLETE_FRAMES = ["mark {r} as done", "mark {r} done", "{r} is done", "{r} done", "finished {r}", "I finished {r}",
                   "tick off {r}", "check off {r}", "close {r}, it's finished", "done with {r}", "complete {r}",
                   "{r} ✅", "{r} - done!", "please mark {r} complete", "can you mark {r} as finished?",
                   "got {r} done", "{r} is finished, the one about {x}", "{r} (the {x} one) is done",
                   "i did {r}, mark it done", "set {r} to done", "{r} is complete", "mark {r} as completed",
                   # a time or remark beside a completion is not a due date: nothing else goes in the call
                   "{r} done {w}", "finished {r} {w}!", "I wrapped up {r} {w}", "{r} is taken care of",
                   "sorted {r} {w}", "{r} done, took {n} hours", "{r} finally done 🎉", "knocked out {r} {w}",
                   "{r}: done and dusted", "{r} - finished it {w}", "good news, {r} is done", "{r} all done {w}",
                   "cross off {r}", "cross {r} off", "{r} can be crossed off", "strike {r} off the list",
                   "the {x} is sorted ({r}), mark it complete", "{r} is the {x} one and it's finished",
                   "dealt with {r}, you can close it"]
DELETE_FRAMES = ["delete {r}", "remove {r}", "get rid of {r}", "trash {r}", "drop {r} from my list", "{r} can go",
                 "scrap {r}", "cancel {r}, not happening", "I don't need {r} anymore", "take {r} off my list",
                 "erase {r}", "please remove {r} from my list", "{r} is no longer needed, delete it",
                 "delete {r} (the {x} one)", "remove {r} - the one about {x}", "bin {r}", "please delete {r}",
                 "kill {r}", "nuke {r}", "ditch {r}", "axe {r}", "zap {r}", "{r} was a mistake, delete it",
                 "lose {r}", "wipe {r}", "rm {r}", "get {r} outta here", "{r} - bin it",
                 "{r} was added by accident, remove it", "can you remove {r}? wrong one", "delete {r}, I made it by mistake",
                 "remove {r} completely", "please get rid of {r}, it's a duplicate",
                 # an ending given as the reason still deletes: "the trip fell through" is no completion
                 "cancel {r}, {why}", "scrap {r}, {why}", "delete {r}, {why}", "{why}, so remove {r}",
                 "{why} - bin {r}", "drop {r}, {why}", "{r} can go, {why}"]
# Reasons a task goes away without being done.
DELETE_REASONS = ["the {e} got cancelled", "the {e} is off", "the {e} was called off", "the {e} fell through",
                  "the {e}'s been cancelled", "they cancelled the {e}", "the {e} isn't happening",
                  "no {e} this year", "the {e} got scrapped", "we called off the {e}"]
EVENTS = ["trip", "dinner", "gig", "workshop", "viewing", "class", "wedding", "match", "interview", "launch",
          "conference", "sleepover", "barbecue", "recital", "audit", "hike", "reunion", "fundraiser", "demo"]


# No id named: which task is meant is unknowable, so the assistant asks instead of guessing.
NO_ID_REFS = ["it", "that", "that one", "this one", "the last one", "the task", "my task", "that task",
              "the {x} one", "the {x} task", "the task about {x}", "the one about {x}", "the {x} thing",
              "everything tagged {g}", "both of those", "all of them", "the first one", "the other one"]
NO_ID_FRAMES = {
    "delete": ["delete {ref}", "remove {ref}", "get rid of {ref}", "can you delete {ref}", "scrap {ref}",
               "I don't need {ref} anymore, delete it", "trash {ref}", "take {ref} off my list"],
    "complete": ["mark {ref} done", "{Ref} is done", "done with {ref}", "finished {ref}", "tick off {ref}",
                 "I already did {ref}, tick it off", "mark {ref} as complete", "check {ref} off",
                 "ok {ref} is sorted, check it off", "{Ref} is taken care of, cross it off", "cross {ref} off"],
    "update": ["move {ref} to {d}", "push {ref} to {d}", "make {ref} urgent", "bump {ref} to high priority",
               "rename {ref} to {n}", "tag {ref} as {g}", "change the due date to {d}", "change the priority to {p}",
               "make {ref} low priority", "{Ref} should be due {d}", "set {ref} to {p} priority",
               "retag {ref} as {g}", "{Ref} needs a new title: {n}", "change {ref}'s tags to {g}"],
}
NO_TITLE_REQUESTS = ["remind me {d}", "add a task", "new todo, {c}", "create a task for {d}", "remind me",
                     "add something to my list", "new task", "put a reminder in for {d}", "make a task, {c}",
                     "I need to do something {d}", "add a task for {d} please", "set a reminder", "todo: ",
                     "can you add a new task?", "Remind me about it {d}"]
