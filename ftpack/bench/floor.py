"""The engine's floor: what llama.cpp itself needs on this machine for each request's tokens.

A served reply costs about (prompt tokens not in the cache) / (prompt speed) + (reply tokens) /
(decode speed). Both speeds belong to the machine, not to ftpack, so the benchmark measures them
for the served GGUF with llama.cpp directly (llama-cpp-python, batched prompt evaluation, one
token at a time for decoding, the same thread count Ollama uses: the physical cores), and gives
every request its floor: the time llama.cpp alone needs for *its* uncached prompt and reply
tokens. The served latency over that floor is what serving adds (HTTP, templating, sampling,
scheduling); the floor itself says whether the spec's latency is reachable on this machine.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from ftpack import taskapi
from ftpack.machine import cpu_info

# Token text for the measurement: a Task API exchange, so the same kernels run as in serving.
SAMPLE_PROMPT = "remind me to pay invoice #5820 by friday, it's urgent. Tags: finance, admin. " * 8
SAMPLE_REPLY = taskapi.dumps({"action": "create_task", "title": "Pay invoice #5820", "due_date": "friday",
                              "priority": "high", "tags": ["finance", "admin"]}) * 4


def _median_seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def engine_speeds(gguf: Path, prompt_tokens: int, threads: int | None = None, repeats: int = 5) -> dict[str, Any]:
    """llama.cpp's prompt-eval and decode tokens/s for `gguf` on this machine."""
    import llama_cpp

    threads = threads or cpu_info()["physical_cores"]
    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=512, n_batch=512, n_threads=threads,
                          n_threads_batch=threads, verbose=False)
    try:
        prompt = llm.tokenize(SAMPLE_PROMPT.encode(), add_bos=False)[: max(1, prompt_tokens)]
        reply = llm.tokenize(SAMPLE_REPLY.encode(), add_bos=False)[:32]

        def evaluate_prompt() -> None:
            llm.reset()
            llm.eval(prompt)

        def decode() -> None:
            for token in reply:  # one token per step, as in generation
                llm.eval([token])

        evaluate_prompt()  # warm-up: first use allocates buffers
        prompt_seconds = _median_seconds(evaluate_prompt, repeats)
        decode_seconds = []
        for _ in range(max(2, repeats // 2)):
            evaluate_prompt()
            decode_seconds.append(_median_seconds(decode, 1))
    finally:
        llm.close()
    return {"engine": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})", "threads": threads,
            "prompt_tokens_measured": len(prompt),
            "prompt_tokens_per_second": round(len(prompt) / prompt_seconds, 1),
            "decode_tokens_per_second": round(len(reply) / statistics.median(decode_seconds), 1)}


def floor_ms(prompt_tokens: int | None, reply_tokens: int | None, speeds: dict[str, Any]) -> float | None:
    if prompt_tokens is None or reply_tokens is None:
        return None
    return 1000 * (prompt_tokens / speeds["prompt_tokens_per_second"] + reply_tokens / speeds["decode_tokens_per_second"])


def floor_report(gguf: Path, requests: list[dict[str, Any]], latency_limit_ms: float | None) -> dict[str, Any]:
    """Speeds, per-request floors, served/floor ratios and whether the latency limit is reachable here."""
    from ftpack.bench.figures import percentiles

    prompts = [r["prompt_tokens"] for r in requests if r.get("prompt_tokens") is not None]
    speeds = engine_speeds(gguf, round(statistics.median(prompts)) if prompts else 24)
    floors = [floor_ms(r.get("prompt_tokens"), r.get("eval_tokens"), speeds) for r in requests]
    for request, floor in zip(requests, floors):
        request["floor_ms"] = None if floor is None else round(floor, 1)
    known = [f for f in floors if f is not None]
    floor = percentiles(known)
    served = percentiles([r["wall_ms"] for r, f in zip(requests, floors) if f is not None])
    ratio = {p: round(served[p] / floor[p], 3) if floor[p] else None for p in ("p50", "p95")}
    if latency_limit_ms is None or floor["p95"] is None:
        verdict = "no latency limit to judge" if latency_limit_ms is None else "no token counts to compute a floor"
    elif floor["p95"] < latency_limit_ms:
        verdict = (f"{latency_limit_ms:g} ms is reachable on this machine: the engine's floor is "
                   f"{floor['p95']:.0f} ms at p95")
    else:
        verdict = f"{latency_limit_ms:g} ms is not reachable here: the floor is {floor['p95']:.0f} ms at p95"
    return {**speeds, "machine": cpu_info(), "floor_ms": floor, "served_ms": served, "served_over_floor": ratio,
            "verdict": verdict}


SERVED_OVER_FLOOR_MAX = 1.15  # beyond this the setup, not the machine, is what is slow
FEW_CORES = 4


def serving_advice(floor: dict[str, Any]) -> str | None:
    """What to change when a local Ollama serves far above the floor on a machine with few cores."""
    ratio = floor["served_over_floor"]["p95"]
    cpus = floor["machine"]["logical_cpus"]
    if ratio is None or ratio <= SERVED_OVER_FLOOR_MAX or cpus > FEW_CORES:
        return None
    # measured with bench/server_environment.py: on a 2-core EPYC the harness Ollama went from 1.4-2.2x of
    # the floor to 1.0-1.4x (the floor itself moves ~10 % from minute to minute there); request options
    # (num_thread, num_batch) did not move it
    return (f"Ollama served at {ratio:g}x the engine's floor at p95. On {cpus} CPUs the server's Go threads compete "
            "with its compute threads: unless it runs with them already, start it with GOMAXPROCS=1 (and "
            "KMP_BLOCKTIME=1 if its ggml runs on Intel OpenMP, as the harness build does); see README, "
            "'Serving on few cores'")
