"""Turn conversations into training tokens with assistant-only labels, for any chat template.

Each assistant turn is located by rendering the conversation up to it twice with the model's own
template: once ending in the generation prompt, once with the reply. The difference is the reply
plus its end-of-turn token (trailing whitespace after it is not learned). Segments are tokenized
separately and concatenated, so the prompt tokens are exactly what the model sees at inference
(the template applied with add_generation_prompt=True) and the reply tokens are what it must
produce. TRL's own assistant-only loss needs templates with {% generation %} markers, which most
models' templates lack, hence this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ftpack.errors import FtpackError

IGNORE_INDEX = -100


@dataclass
class Tokenized:
    input_ids: list[int]
    labels: list[int]


def render(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def segments(tokenizer: Any, messages: list[dict[str, str]]) -> list[tuple[str, bool]]:
    """The rendered conversation as (text, learned) pieces; learned = assistant reply + end of turn."""
    pieces: list[tuple[str, bool]] = []
    done = 0  # characters of the final rendering already covered
    full = render(tokenizer, messages)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(tokenizer, messages[:i], add_generation_prompt=True)
        through = render(tokenizer, messages[: i + 1])
        if not (through.startswith(prompt) and full.startswith(through) and len(prompt) >= done):
            raise FtpackError("the chat template does not render conversations incrementally (a turn changes "
                              "what comes before it), so assistant tokens cannot be masked; use another template "
                              "with --chat-template")
        reply = through[len(prompt):]
        learned = reply.rstrip()
        pieces += [(prompt[done:], False), (learned, True), (reply[len(learned):], False)]
        done = len(through)
    pieces.append((full[done:], False))
    return [(text, learned) for text, learned in pieces if text]


def tokenize(tokenizer: Any, messages: list[dict[str, str]]) -> Tokenized:
    input_ids: list[int] = []
    labels: list[int] = []
    for text, learned in segments(tokenizer, messages):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        input_ids += ids
        labels += ids if learned else [IGNORE_INDEX] * len(ids)
    return Tokenized(input_ids, labels)


def end_of_turn_tokens(tokenizer: Any) -> list[str]:
    """Tokens that end an assistant turn under this template (for stop sequences and checks)."""
    probe = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    learned = [text for text, is_learned in segments(tokenizer, probe) if is_learned]
    tail = learned[0][len("y"):] if learned and learned[0].startswith("y") else ""
    special = set(tokenizer.all_special_tokens) | set(getattr(tokenizer, "added_tokens_encoder", {}))
    stops = [tok for tok in special if tok and tok in tail]
    if tokenizer.eos_token and tokenizer.eos_token not in stops:
        stops.append(tokenizer.eos_token)
    return sorted(stops, key=lambda t: (t not in tail, tail.find(t)))
