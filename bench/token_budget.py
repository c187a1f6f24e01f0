"""Tokens per request, one change at a time: what each prompt and reply choice costs.

    python bench/token_budget.py

Tokens do not depend on the machine, so this needs no model run: the SmolLM2 tokenizer and the
ChatML template count, for the hand-written evaluation set,
  - prompt tokens: the whole prompt, and what is left to evaluate once the constant system prompt
    is a cached prefix (Ollama and llama.cpp keep it between requests); Task API 1.0's dated prompt
    for comparison, which changes every day and so can be cached only within one day;
  - reply tokens of the expected calls in several JSON forms: Task API 2's reply form (what ftpack
    trains: the action as the first key holding its main argument), and the call written out as
    Task API 1.x replied (compact with defaults omitted, with defaults filled, with spaces, action
    last), one change at a time.
Writes bench/reports/token-budget.{json,md}.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics

from _report import write_report


def percentile(values: list[int], q: float) -> float:
    import numpy as np

    return round(float(np.percentile(values, q)), 1)


def main() -> None:
    from transformers import AutoTokenizer

    from ftpack import taskapi
    from ftpack.base_model import embedded_gguf
    from ftpack.evalsets import HANDWRITTEN_CASES
    from ftpack.score import load_cases

    gguf = embedded_gguf("smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt(system: str, request: str) -> str:
        return tokenizer.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": request}],
                                             tokenize=False, add_generation_prompt=True)

    cases = load_cases(HANDWRITTEN_CASES)
    prefix = count(prompt(taskapi.SYSTEM_PROMPT, "")) - count(prompt("", "")) + count(prompt("", "").split("<|im_start|>user")[0])
    dated = [count(prompt(f"Task API v1 assistant. Today is {c.today} ({c.today.strftime('%A')}).", c.request))
             for c in cases]
    whole = [count(prompt(taskapi.SYSTEM_PROMPT, c.request)) for c in cases]
    uncached = [w - prefix for w in whole]

    # the calls as the writers wrote them: date phrases, not the ISO dates the scorer compares
    written = [json.loads(json.loads(line)["reply"]) for line in HANDWRITTEN_CASES.read_text("utf-8").splitlines()]
    compact = {"ensure_ascii": False, "separators": (",", ":")}
    forms = {
        "2.0 reply form (trained)": taskapi.dumps,
        "2.0 reply form with spaces": lambda c: json.dumps(taskapi.reply_object(c), ensure_ascii=False),
        "1.x call, compact, defaults omitted": lambda c: json.dumps(taskapi.strip_defaults(c), **compact),
        "1.x call, compact, defaults filled": lambda c: json.dumps(taskapi.fill_defaults(c), **compact),
        "1.x call, spaces, defaults omitted": lambda c: json.dumps(taskapi.strip_defaults(c), ensure_ascii=False),
        "1.x call, compact, action last": lambda c: json.dumps(
            {**{k: v for k, v in taskapi.strip_defaults(c).items() if k != "action"}, "action": c["action"]}, **compact),
    }
    replies = {name: [count(form(call)) + 1 for call in written] for name, form in forms.items()}  # + end of turn
    figures = {
        "cases": len(cases), "source": str(HANDWRITTEN_CASES.name),
        "system prompt tokens (cached prefix)": prefix,
        "prompt tokens, 1.0 dated prompt p50/p95": [percentile(dated, 50), percentile(dated, 95)],
        "prompt tokens, 2.0 constant prompt p50/p95": [percentile(whole, 50), percentile(whole, 95)],
        "uncached prompt tokens with the prefix cached p50/p95": [percentile(uncached, 50), percentile(uncached, 95)],
        **{f"reply tokens, {name} p50/p95/max/mean": [percentile(v, 50), percentile(v, 95), max(v),
                                                        round(statistics.mean(v), 1)]
           for name, v in replies.items()},
        "reply tokens by action (2.0 reply form, mean)": {
            action: round(statistics.mean(n for c, n in zip(cases, replies["2.0 reply form (trained)"])
                                          if c.expected["action"] == action), 1)
            for action in taskapi.ACTIONS},
        "reply tokens by action (1.x call, mean)": {
            action: round(statistics.mean(n for c, n in zip(cases, replies["1.x call, compact, defaults omitted"])
                                          if c.expected["action"] == action), 1)
            for action in taskapi.ACTIONS},
        "date": dt.date.today().isoformat(),
    }
    write_report("token-budget", "Tokens per request on the hand-written set (SmolLM2 tokenizer, ChatML)", figures)


if __name__ == "__main__":
    main()
