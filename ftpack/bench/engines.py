"""How the benchmark asks a model: Ollama's /api/chat, or the run's GGUF in embedded llama.cpp.

Both send the same conversation (the training system prompt, then the request), at temperature 0,
streamed, and record wall time, time to first token and the engine's own token counts and
durations, so that latency can be split into prompt evaluation and decoding.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ftpack import anchor, taskapi
from ftpack.errors import FtpackError
from ftpack.machine import cpu_info
from ftpack.ollama_host import base_url
from ftpack.rundir import load_run_config, read_metrics, read_run_file
from ftpack.score import Case

# A Task API reply is < 100 tokens; the cap keeps a looping model from running to the context end.
MAX_REPLY_TOKENS = 192


@dataclass
class Timing:
    wall_ms: float
    ttft_ms: float | None
    prompt_tokens: int | None = None  # evaluated for this request: a cached prefix is not counted
    prompt_tokens_total: int | None = None  # the whole prompt, cached prefix included
    eval_tokens: int | None = None
    load_ms: float | None = None
    prompt_eval_ms: float | None = None
    eval_ms: float | None = None

    @property
    def tokens_per_second(self) -> float | None:
        if self.eval_tokens and self.eval_ms:
            return self.eval_tokens / (self.eval_ms / 1000)
        return None


@dataclass
class Reply:
    text: str
    timing: Timing
    cut: bool = False  # stopped by the reply-token cap, not by the model: a looping reply


@dataclass
class Engine:
    """One way of asking the model: `ask(case) -> Reply`, plus how to force a cold start.

    `ask(case, constrained=True)` decodes under the reply's JSON Schema narrowed to the request
    (anchor.anchored_schema) whatever the engine's `structured` setting: the client's second try
    at a reply that is malformed or not anchored in its request."""

    name: str  # "ollama" or "llama.cpp (embedded)"
    model: str
    ask: Callable[..., Reply]
    unload: Callable[[], None]
    close: Callable[[], None] = lambda: None
    details: dict[str, Any] = field(default_factory=dict)


def messages_for(case: Case) -> list[dict[str, str]]:
    return [{"role": "system", "content": taskapi.SYSTEM_PROMPT}, {"role": "user", "content": case.request}]


def training_tokenizer(run_dir: Path) -> Any:
    """The run's tokenizer with its training chat template (what a parity-checked Ollama renders)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "adapter")
    tokenizer.chat_template = read_run_file(run_dir, "chat_template.jinja")
    return tokenizer


def prompt_token_ids(run_dir: Path) -> Callable[[Case], list[int]]:
    """Token ids of a case's prompt as the training template renders it."""
    tokenizer = training_tokenizer(run_dir)
    return lambda case: tokenizer.apply_chat_template(messages_for(case), tokenize=True, add_generation_prompt=True,
                                                      return_dict=True)["input_ids"]


def uncached_count(previous: list[int] | None, tokens: list[int]) -> int:
    """Prompt tokens an engine must evaluate when it keeps the previous prompt's tokens cached: all
    but the shared prefix (the last prompt token is evaluated anyway, for its logits)."""
    shared = 0
    for cached, token in zip(previous or [], tokens[:-1]):
        if cached != token:
            break
        shared += 1
    return len(tokens) - shared


# ------------------------------------------------------------------------------- engines
def with_tag(model: str) -> str:
    """The name as Ollama lists it: an untagged name means its `latest` tag."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


def ollama_engine(model: str, host: str | None, structured: bool, options: dict[str, Any] | None = None,
                  prompt_tokens: Callable[[Case], list[int]] | None = None) -> Engine:
    """Ollama's /api/chat; `options` adds request options (num_thread, num_batch, ...) to measure them.

    Ollama's prompt_eval_count is the whole prompt, cached prefix included (measured on 0.9.3: the
    same request twice counts 31 tokens both times, in 54 and 23 ms). Given the prompt's token ids
    (`prompt_tokens`, from the training template that registration proved Ollama renders), the
    tokens Ollama really evaluates are counted as llama.cpp's are: all but the prefix shared with
    the previous request, which Ollama keeps cached.
    """
    from ftpack.register import connect

    client, version = connect(host)
    model = with_tag(model)
    names = {m.model for m in client.list().models}
    if model not in names:
        raise FtpackError(f"model {model} is not in the Ollama at {base_url(host)}: register it with "
                          "`ftpack register RUN_DIR --name NAME` or pass --model")
    schema = taskapi.reply_schema()
    cache: dict[str, list[int] | None] = {"previous": None}

    def ask(case: Case, constrained: bool = False) -> Reply:
        tokens = prompt_tokens(case) if prompt_tokens else None
        started = time.perf_counter()
        first = None
        parts, final = [], None
        for chunk in client.chat(model=model, messages=messages_for(case), stream=True,
                                 format=anchor.anchored_schema(case.request) if constrained else
                                 schema if structured else None,
                                 options={"temperature": 0, "num_predict": MAX_REPLY_TOKENS, **(options or {})}):
            if chunk.message.content:
                if first is None:
                    first = time.perf_counter()
                parts.append(chunk.message.content)
            if chunk.done:
                final = chunk
        wall = time.perf_counter() - started
        timing = Timing(wall_ms=wall * 1000, ttft_ms=(first - started) * 1000 if first else None)
        if final is not None:  # some builds end a stream cut at the context limit without it
            timing.prompt_tokens_total, timing.eval_tokens = final.prompt_eval_count, final.eval_count
            timing.load_ms, timing.prompt_eval_ms, timing.eval_ms = (
                None if value is None else value / 1e6
                for value in (final.load_duration, final.prompt_eval_duration, final.eval_duration))
        if tokens is not None:
            timing.prompt_tokens = uncached_count(cache["previous"], tokens)
            cache["previous"] = tokens
        return Reply("".join(parts), timing, cut=final is None or final.done_reason == "length")

    def unload() -> None:
        import httpx

        cache["previous"] = None
        client.generate(model=model, prompt="", keep_alive=0)
        for _ in range(100):  # wait until the runner is really gone
            try:
                if model not in {m.model for m in client.ps().models}:
                    return
            except httpx.TransportError:
                # the harness server once dropped this poll's connection right after an unload (CI,
                # "Server disconnected without sending a response"); a poll is safe to repeat
                pass
            time.sleep(0.1)

    return Engine("ollama", model, ask, unload, details={"ollama_version": version, "host": base_url(host),
                                                       "structured_output": structured})


def llamacpp_engine(run_dir: Path, gguf: Path, structured: bool, threads: int | None = None) -> Engine:
    import llama_cpp

    from ftpack.export import ReplyCap, bos_to_strip

    tokenizer = training_tokenizer(run_dir)
    stop = read_metrics(run_dir)["train"]["stop_tokens"]
    n_ctx = max(512, load_run_config(run_dir).max_length + 128)
    strip = bos_to_strip(tokenizer, gguf)  # once, not per request: it maps the whole GGUF
    state: dict[str, Any] = {"llm": None, "grammar": None}

    def grammar(case: Case, constrained: bool) -> Any:
        if constrained:
            return llama_cpp.LlamaGrammar.from_json_schema(json.dumps(anchor.anchored_schema(case.request)),
                                                           verbose=False)
        if not structured:
            return None
        if state["grammar"] is None:
            state["grammar"] = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(taskapi.reply_schema()),
                                                                       verbose=False)
        return state["grammar"]

    def model() -> Any:
        if state["llm"] is None:
            # as many threads as physical cores, as Ollama does (llama-cpp-python's default is half the
            # logical CPUs: 1 of 2 cores here, 141 instead of 174 decode tokens/s)
            cores = threads or cpu_info()["physical_cores"]
            state["llm"] = llama_cpp.Llama(model_path=str(gguf), n_ctx=n_ctx, verbose=False, n_threads=cores,
                                           n_threads_batch=cores)
        return state["llm"]

    def ask(case: Case, constrained: bool = False) -> Reply:
        started = time.perf_counter()
        loaded_before = state["llm"] is not None
        llm = model()
        load_ms = 0.0 if loaded_before else (time.perf_counter() - started) * 1000
        prompt = tokenizer.apply_chat_template(messages_for(case), tokenize=False, add_generation_prompt=True)
        prompt = prompt.removeprefix(strip)
        tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        # llama-cpp-python reuses the longest prefix it already evaluated (as Ollama does): count
        # only the tokens this request really evaluates
        cached = llm.longest_token_prefix(llm._input_ids.tolist(), tokens[:-1]) if llm.n_tokens else 0
        first, parts, cap = None, [], ReplyCap(MAX_REPLY_TOKENS)
        for chunk in llm.create_completion(prompt, max_tokens=MAX_REPLY_TOKENS, temperature=0.0, stop=stop, stream=True,
                                           grammar=grammar(case, constrained),
                                           stopping_criteria=cap.criteria()):
            text = chunk["choices"][0]["text"]
            if text and first is None:
                first = time.perf_counter()
            parts.append(text)
        wall = time.perf_counter() - started
        return Reply("".join(parts), Timing(wall_ms=wall * 1000, ttft_ms=(first - started) * 1000 if first else None,
                                            prompt_tokens=len(tokens) - cached, prompt_tokens_total=len(tokens),
                                            eval_tokens=cap.sampled, load_ms=load_ms,
                                            eval_ms=(wall - ((first or started) - started)) * 1000),
                     cut=cap.sampled >= MAX_REPLY_TOKENS)

    def unload() -> None:
        if state["llm"] is not None:
            state["llm"].close()
            state["llm"] = None

    return Engine("llama.cpp (embedded)", str(gguf), ask, unload, close=unload,
                  details={"llama_cpp_python": llama_cpp.__version__, "structured_output": structured})


# ------------------------------------------------------------------------------- figures
