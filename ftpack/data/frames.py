"""The sentences around the parts: how people ask for each Task API action.

Frames hold placeholders that ftpack.data.generate fills: {t} the title, {d} a date slot before the
title (create), {r} a task reference, {x} what a task is about, {p} a priority level, {c} a priority
cue, {n} a new title, {g} tags, {ref}/{Ref} a reference that names no id. A frame only uses the
placeholders of its action, and its meaning is the action's, so every reply is right by construction.
"""

from __future__ import annotations


# Frames around a title; {d} marks frames with a slot for a date before the title.
CREATE_FRAMES = [
    "{t}", "{t}", "{t}", "{t}", "{t}", "{t}", "{t}", "remind me to {t}", "Remind me to {t}", "I need to {t}",
    "i have to {t}", "need to {t}", "can you add a task to {t}?", "Could you add a task to {t}", "add a task: {t}",
    "new task: {t}", "please remind me to {t}", "don't let me forget to {t}", "todo: {t}", "TODO {t}",
    "note to self - {t}", "put {t} on my list", 'add "{t}" to my tasks', "create a task '{t}'", "new task “{t}”",
    "I should {t}", "remember to {t}", "make a note that I need to {t}", "{t} please", "set a reminder to {t}",
    "gotta {t}", "must {t}", "I must {t}", "Task: {t}", "add: {t}", "pls add {t}", "make sure I {t}",
    "reminder: {t}", "we need to {t}", "I want to {t}", "can you remind me to {t}", "Add a task to {t}.", "- {t}",
    "remind me {d} to {t}", "{d} I need to {t}", "{d} remind me to {t}", "I have to {t}", "can u add {t}",
    "jot down: {t}", "stick {t} on the list", "ugh I need to {t}", "add {t} to my to-do list", "note: {t}",
    "pls remind me to {t}", "I keep forgetting to {t}", "don't forget: {t}", "new todo - {t}", "write down: {t}",
    "oh and {t}", "could you add {t} to my tasks?", "I'll need to {t}", "to do: {t}", "mental note: {t}",
    "so I have to {t}", "remind me that I need to {t}", "ping me to {t}", "I gotta {t}",
    "can you put {t} on my list", "my partner asked me to {t}", "add this: {t}", "honestly I just need to {t}",
    "{d} I gotta {t}", "nudge me {d} to {t}", "remind me {d} that I have to {t}",
]


# update_task, by the kind of change; "untag": tags cleared
UPDATE_TEMPLATES = {
    "priority": [
        "change the priority of {r} to {p}", "set {r} to {p} priority", "make {r} {p} priority",
        "{r} should be {p} priority", "update {r}: priority {p}", "{r} is {c} now", "bump {r} to {p} priority",
        "{r}: {c}", "mark {r} as {c}", "change {r} to {c}", "{r} -> {p} priority", "can you make {r} {c}?",
        "set the priority on {r} to {p}", "{r} needs to be {p} priority", "priority for {r}: {p}",
        "hey, {r} should be {c} now, things changed", "change {r}'s priority to {p}", "{r} -> {c}",
        "switch {r} to {p} priority", "{r} is actually {c}, can you change that?",
    ],
    "due": [
        "move {r} to {d}", "push {r} to {d}", "{r} is now due {d}", "change the due date of {r} to {d}",
        "reschedule {r} for {d}", "postpone {r} until {d}", "{r}: due {d}", "make {r} due {d}",
        "{r} should be done by {d} instead", "bring {r} forward to {d}", "set {r}'s deadline to {d}",
        "can we move {r} to {d}?", "change {r} to {d}", "{r} is due {d} now",
        "make {r} due {d} instead, something came up", "new deadline for {r}: {d}",
        "plans changed, {r} is due {d} now", "can {r} be due {d} instead?", "{r} has a new deadline: {d}",
        "due date for {r} is {d} now", "reschedule {r}: {d}", "let's do {r} {d} instead",
    ],
    "no_due": [
        "remove the due date from {r}", "{r} has no deadline anymore", "clear the date on {r}",
        "take the due date off {r}", "{r} doesn't need a due date", "no due date for {r}",
        "get rid of the deadline on {r}", "{r} doesn't have a deadline anymore", "remove {r}'s due date",
        "{r}: no due date", "scrap the due date on {r}", "clear {r}'s deadline, no date needed",
        "drop the due date from {r}, it's not tied to a day anymore",
    ],
    "title": [
        'rename {r} to "{n}"', "rename {r} to {n}", "change the title of {r} to {n}", "{r} should be called '{n}'",
        'update {r} title: "{n}"', "retitle {r}: {n}", 'call {r} "{n}" instead', "{r} -> rename to {n}",
        "change {r} to say {n}", "rename {r}: {n}", '{r} should say "{n}"', "change {r}'s title to '{n}'",
        "actually, {r} should be called '{n}'", 'retitle {r} to "{n}", the old name was confusing',
        "can you rename {r} to '{n}'?", 'typo in {r}, it should be "{n}"', "change the name of {r} to {n}",
    ],
    "tags": [
        "tag {r} as {g}", "set the tags of {r} to {g}", "{r} tags: {g}", "label {r} {g}", "retag {r} with {g}",
        "change the tags on {r} to {g}", "tags for {r}: {g}", "{r} should be tagged {g}",
        "tag {r} with {g} instead", "change {r}'s tags to {g}", "make the tags on {r} just {g}", "{r} -> tags {g}",
    ],
    "untag": [
        "remove all tags from {r}", "clear the tags on {r}", "untag {r}", "{r} shouldn't have any tags",
        "strip the tags off {r}", "no tags on {r} please", "take all the tags off {r}",
        "remove every tag from {r}",
    ],
    "priority_due": [
        "make {r} {p} priority and move it to {d}", "{r}: {p} priority, due {d}",
        "change {r} to {p} priority and due {d}", "push {r} to {d}, and it's {c}",
        "{r} is {c}, needs doing by {d}", "{r} is {c} and due {d}", "set {r} to {p} priority, due {d}",
        "move {r} to {d} and make it {p} priority", "{r}: due {d}, {c}", "{r} needs doing {d}, and it's {c}",
        "change {r}: {p} priority, deadline {d}",
    ],
    "title_due": [
        'rename {r} to "{n}" and move it to {d}', "{r}: call it {n}, due {d}", "change {r} to '{n}', due {d}",
        "rename {r} to '{n}', due {d}", '{r} should be called "{n}" and due {d}',
        "call {r} '{n}' and push it to {d}", 'change {r} to "{n}" and make it due {d}',
        'retitle {r}: "{n}", deadline {d}',
    ],
}


COMPLETE_FRAMES = [
    "mark {r} as done", "mark {r} done", "{r} is done", "{r} done", "finished {r}", "I finished {r}",
    "tick off {r}", "check off {r}", "close {r}, it's finished", "done with {r}", "complete {r}", "{r} ✅",
    "{r} - done!", "please mark {r} complete", "can you mark {r} as finished?", "got {r} done",
    "{r} is finished, the one about {x}", "{r} (the {x} one) is done", "i did {r}, mark it done",
    "set {r} to done", "{r} is complete", "mark {r} as completed", "{r} ✔", "{r} sorted", "knocked out {r}",
    "cross off {r}", "wrapped up {r}", "{r} is done, finally", "mark {r} as done pls, got it sorted this morning",
    "just finished {r}", "{r} done and dusted", "you can tick off {r}, I did it", "finally got {r} out of the way",
    "{r}: done", "all done with {r}", "{r} is sorted now, mark it complete", "cross {r} off, it's done",
    "i've done {r}", "{r} handled, you can close it", "mark {r} complete please",
    "can you close out {r}? it's finished", "{r} is all done 🎉", "completed {r}", "dealt with {r}, tick it off",
    "{r} - finished it last night", "yay {r} is done", "please check off {r}, it's done",
    "finished {r} finally, mark it off",
]


DELETE_FRAMES = [
    "delete {r}", "remove {r}", "get rid of {r}", "trash {r}", "drop {r} from my list", "{r} can go", "scrap {r}",
    "cancel {r}, not happening", "I don't need {r} anymore", "take {r} off my list", "erase {r}",
    "please remove {r} from my list", "{r} is no longer needed, delete it", "delete {r} (the {x} one)",
    "remove {r} - the one about {x}", "bin {r}", "please delete {r}", "nuke {r}", "ditch {r}", "axe {r}",
    "kill {r}", "wipe {r} from the list", "wipe {r}", "remove {r}, added it by mistake",
    "delete {r} - plans changed", "can you remove {r}?", "could you delete {r} please",
    "{r} isn't needed anymore, bin it", "get {r} off my list", "forget about {r}, delete it",
    "delete {r}, no longer relevant", "{r} is cancelled, remove it", "pls delete {r}", "remove {r} from my tasks",
    "toss {r}, I don't need it", "can we get rid of {r}?", "{r} - not doing this anymore, delete it",
    "delete {r} entirely", "permanently remove {r}", "{r} was a duplicate, delete it",
    "kill off {r}, it's not happening", "just delete {r}", "{r} needs deleting",
    "cancel {r} please, someone else is doing it",
]


LIST_WORDS = {
    "open": [
        "still open", "open", "unfinished", "not done yet", "pending", "outstanding", "left to do", "incomplete",
        "remaining", "not finished", "active", "uncompleted",
    ],
    "done": [
        "done", "finished", "completed", "ticked off", "closed", "checked off", "crossed off", "already done",
        "wrapped up",
    ],
}


# No id named: which task is meant is unknowable, so the assistant asks instead of guessing.
NO_ID_REFS = [
    "it", "that", "that one", "this one", "the last one", "the task", "my task", "that task", "the {x} one",
    "the {x} task", "the task about {x}", "the one about {x}", "the {x} thing", "everything tagged {g}",
    "both of those", "all of them", "the first one", "the other one", "the one I just added", "the previous one",
    "that reminder", "the {x} reminder", "the last task", "the one we talked about", "the same one", "the new one",
    "that {x} thing", "my {x} task", "the latest one", "the reminder about {x}",
]


NO_ID_FRAMES = {
    "delete": [
        "delete {ref}", "remove {ref}", "get rid of {ref}", "can you delete {ref}", "scrap {ref}",
        "I don't need {ref} anymore, delete it", "trash {ref}", "take {ref} off my list", "nuke {ref}",
        "ditch {ref}", "can you get rid of {ref}?", "please remove {ref}, added it by mistake", "bin {ref}",
        "axe {ref}, plans changed", "wipe {ref} off the list", "pls delete {ref}, not happening",
    ],
    "complete": [
        "mark {ref} done", "{Ref} is done", "done with {ref}", "finished {ref}", "tick off {ref}",
        "I already did {ref}, tick it off", "mark {ref} as complete", "check {ref} off", "knocked out {ref}",
        "cross off {ref}", "wrapped up {ref}", "got {ref} done", "can you mark {ref} as done?",
        "finally finished {ref}", "{Ref} got sorted, tick it off", "all done with {ref}",
    ],
    "update": [
        "move {ref} to {d}", "push {ref} to {d}", "make {ref} urgent", "bump {ref} to high priority",
        "rename {ref} to {n}", "tag {ref} as {g}", "change the due date to {d}", "change the priority to {p}",
        "make {ref} low priority", "{Ref} should be due {d}", "set {ref} to {p} priority",
        "reschedule {ref} for {d}", "make {ref} {p} priority", "rename {ref} to '{n}'", 'call {ref} "{n}" instead',
        "{Ref} should be {p} priority", "can you push {ref} to {d}?", "clear the due date on {ref}", "untag {ref}",
        "retag {ref} as {g}", "make {ref} {c}",
    ],
}


NO_TITLE_REQUESTS = [
    "remind me {d}", "add a task", "new todo, {c}", "create a task for {d}", "remind me",
    "add something to my list", "new task", "put a reminder in for {d}", "make a task, {c}",
    "I need to do something {d}", "add a task for {d} please", "set a reminder", "todo: ",
    "can you add a new task?", "Remind me about it {d}",
]
