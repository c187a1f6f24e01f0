"""Stage 6: benchmark a model through Ollama (or embedded llama.cpp) and judge it against the spec.

Each case's request goes to /api/chat at temperature 0 with today's date in the system message,
streamed, after one warm-up request. Recorded per request: wall time, time to first token,
Ollama's load / prompt-eval / eval durations and counts, and tokens/s. A cold-start request
follows an unload. Replies are scored with ftpack.score. `--concurrency N` adds a throughput phase
with N clients. `--compare f16` runs the same cases on the unquantized GGUF for the accuracy cost
of quantization. With no Ollama reachable, the run's GGUF runs in embedded llama.cpp instead, and
every report says so.

Reports: RUN_DIR/bench/report.json, report.md, latency.png, accuracy.png.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ftpack import taskapi
from ftpack.errors import FtpackError
from ftpack.fsutil import atomic_path, check_writable, read_text, write_text_atomic
from ftpack.ollama_host import base_url, server_version
from ftpack.score import Case, load_cases, score
from ftpack.rundir import finished_run, load_run_config, read_metrics, read_run_file, update_metrics

# A Task API reply is < 100 tokens; the cap keeps a looping model from running to the context end.
MAX_REPLY_TOKENS = 192
DEFAULT_SPEC = {"val_loss_max": 1.0, "task_creation_accuracy_min": 0.90, "latency_p95_ms_max": 500.0}
SPEC_LABELS = {"val_loss_max": ("val loss", "<"), "task_creation_accuracy_min": ("task-creation accuracy", ">"),
               "latency_p95_ms_max": ("p95 latency (ms)", "<"), "all_operations_accuracy_min": ("all-operations accuracy", ">"),
               "json_valid_rate_min": ("JSON-valid rate", ">")}


@dataclass
class Timing:
    wall_ms: float
    ttft_ms: float | None
    prompt_tokens: int | None = None
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


@dataclass
class Engine:
    """One way of asking the model: `ask(case) -> Reply`, plus how to force a cold start."""

    name: str  # "ollama" or "llama.cpp (embedded)"
    model: str
    ask: Callable[[Case], Reply]
    unload: Callable[[], None]
    close: Callable[[], None] = lambda: None
    details: dict[str, Any] = field(default_factory=dict)


def messages_for(case: Case) -> list[dict[str, str]]:
    return [{"role": "system", "content": taskapi.system_prompt(case.today)}, {"role": "user", "content": case.request}]


# ------------------------------------------------------------------------------- engines
def ollama_engine(model: str, host: str | None, structured: bool) -> Engine:
    from ftpack.register import connect

    client, version = connect(host)
    names = {m.model for m in client.list().models}
    if model not in names:
        raise FtpackError(f"model {model} is not in the Ollama at {base_url(host)}: register it with "
                          "`ftpack register RUN_DIR --name NAME` or pass --model")
    fmt = taskapi.json_schema() if structured else None

    def ask(case: Case) -> Reply:
        started = time.perf_counter()
        first = None
        parts, final = [], None
        for chunk in client.chat(model=model, messages=messages_for(case), stream=True, format=fmt,
                                 options={"temperature": 0, "num_predict": MAX_REPLY_TOKENS}):
            if chunk.message.content:
                if first is None:
                    first = time.perf_counter()
                parts.append(chunk.message.content)
            if chunk.done:
                final = chunk
        wall = time.perf_counter() - started
        timing = Timing(wall_ms=wall * 1000, ttft_ms=(first - started) * 1000 if first else None)
        if final is not None:  # some builds end a stream cut at the context limit without it
            timing.prompt_tokens, timing.eval_tokens = final.prompt_eval_count, final.eval_count
            timing.load_ms, timing.prompt_eval_ms, timing.eval_ms = (
                None if value is None else value / 1e6
                for value in (final.load_duration, final.prompt_eval_duration, final.eval_duration))
        return Reply("".join(parts), timing)

    def unload() -> None:
        client.generate(model=model, prompt="", keep_alive=0)
        for _ in range(100):  # wait until the runner is really gone
            if model not in {m.model for m in client.ps().models}:
                return
            time.sleep(0.1)

    return Engine("ollama", model, ask, unload, details={"ollama_version": version, "host": base_url(host),
                                                       "structured_output": structured})


def llamacpp_engine(run_dir: Path, gguf: Path, structured: bool) -> Engine:
    import llama_cpp
    from transformers import AutoTokenizer

    from ftpack.export import bos_to_strip

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "adapter")
    tokenizer.chat_template = read_run_file(run_dir, "chat_template.jinja")
    stop = read_metrics(run_dir)["train"]["stop_tokens"]
    n_ctx = max(512, load_run_config(run_dir).max_length + 128)
    strip = bos_to_strip(tokenizer, gguf)  # once, not per request: it maps the whole GGUF
    grammar = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(taskapi.json_schema()), verbose=False) if structured else None
    state: dict[str, Any] = {"llm": None}

    def model() -> Any:
        if state["llm"] is None:
            state["llm"] = llama_cpp.Llama(model_path=str(gguf), n_ctx=n_ctx, verbose=False)
        return state["llm"]

    def ask(case: Case) -> Reply:
        started = time.perf_counter()
        loaded_before = state["llm"] is not None
        llm = model()
        load_ms = 0.0 if loaded_before else (time.perf_counter() - started) * 1000
        prompt = tokenizer.apply_chat_template(messages_for(case), tokenize=False, add_generation_prompt=True)
        prompt = prompt.removeprefix(strip)
        first, parts, usage_tokens = None, [], 0
        for chunk in llm.create_completion(prompt, max_tokens=MAX_REPLY_TOKENS, temperature=0.0, stop=stop, stream=True, grammar=grammar):
            text = chunk["choices"][0]["text"]
            if text and first is None:
                first = time.perf_counter()
            parts.append(text)
            usage_tokens += 1
        wall = time.perf_counter() - started
        prompt_tokens = len(llm.tokenize(prompt.encode(), add_bos=False, special=True))
        return Reply("".join(parts), Timing(wall_ms=wall * 1000, ttft_ms=(first - started) * 1000 if first else None,
                                            prompt_tokens=prompt_tokens, eval_tokens=usage_tokens, load_ms=load_ms,
                                            eval_ms=(wall - ((first or started) - started)) * 1000))

    def unload() -> None:
        if state["llm"] is not None:
            state["llm"].close()
            state["llm"] = None

    return Engine("llama.cpp (embedded)", str(gguf), ask, unload, close=unload,
                  details={"llama_cpp_python": llama_cpp.__version__, "structured_output": structured})


# ------------------------------------------------------------------------------- figures
def percentiles(values: list[float]) -> dict[str, float | None]:
    import numpy as np

    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    array = np.asarray(values, dtype=float)
    return {"p50": round(float(np.percentile(array, 50)), 1), "p95": round(float(np.percentile(array, 95)), 1),
            "p99": round(float(np.percentile(array, 99)), 1), "max": round(float(array.max()), 1),
            "mean": round(float(array.mean()), 1)}


def latency_summary(timings: list[Timing]) -> dict[str, Any]:
    def pick(attr: str) -> list[float]:
        return [getattr(t, attr) for t in timings if getattr(t, attr) is not None]

    return {"n": len(timings), "wall_ms": percentiles(pick("wall_ms")), "ttft_ms": percentiles(pick("ttft_ms")),
            "tokens_per_second": percentiles(pick("tokens_per_second")),
            "prompt_tokens": percentiles([float(v) for v in pick("prompt_tokens")]),
            "eval_tokens": percentiles([float(v) for v in pick("eval_tokens")])}


def judge(spec: dict[str, float], figures: dict[str, float | None]) -> list[dict[str, Any]]:
    """Pass/fail per criterion; a missing figure fails (the spec cannot be shown to hold)."""
    verdicts = []
    for key, limit in spec.items():
        if key not in SPEC_LABELS:
            raise FtpackError(f"unknown spec criterion {key!r}: use any of {', '.join(SPEC_LABELS)}")
        label, sign = SPEC_LABELS[key]
        metric = key.rsplit("_", 1)[0]
        value = figures.get(metric)
        passed = value is not None and (value < limit if sign == "<" else value > limit)
        verdicts.append({"criterion": f"{label} {sign} {limit:g}", "key": key, "value": value, "limit": limit,
                         "passed": passed})
    return verdicts


def load_spec(path: str | None) -> dict[str, float]:
    if path is None:
        return dict(DEFAULT_SPEC)
    import yaml

    file = Path(path)
    if not file.is_file():
        raise FtpackError(f"spec file not found: {path}")
    try:
        spec = yaml.safe_load(read_text(file)) or {}
    except (yaml.YAMLError, RecursionError):
        raise FtpackError(f"{path}: not valid YAML: a spec maps criteria to numbers, e.g. task_creation_accuracy_min: 0.9") from None
    if not isinstance(spec, dict) or not all(isinstance(v, (int, float)) for v in spec.values()):
        raise FtpackError(f"{path}: a spec maps criteria to numbers, e.g. task_creation_accuracy_min: 0.9")
    judge(spec, {})  # rejects unknown criteria
    return {k: float(v) for k, v in spec.items()}


# ------------------------------------------------------------------------------- running
def run_cases(engine: Engine, cases: list[Case], concurrency: int = 1) -> tuple[list[Reply], float]:
    started = time.perf_counter()
    if concurrency <= 1:
        replies = [engine.ask(c) for c in cases]
    else:
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            replies = list(pool.map(engine.ask, cases))
    return replies, time.perf_counter() - started


def default_cases(run_dir: Path) -> Path:
    cfg = load_run_config(run_dir)
    return Path(cfg.train_file).parent / "test_cases.jsonl"


def bench(run_dir: str | Path, model: str | None = None, cases_file: str | None = None, host: str | None = None,
          engine_name: str = "auto", structured: bool = False, concurrency: int = 1, limit: int | None = None,
          spec_file: str | None = None, compare_f16: bool = False, out_dir: str | Path | None = None,
          engine_note: str | None = None) -> dict[str, Any]:
    """Benchmark a run; engine_note says in the reports why llama.cpp ran (default: from engine_name)."""
    run_dir = Path(run_dir)
    metrics = finished_run(run_dir)
    check_writable(Path(out_dir) if out_dir else run_dir / "bench", "--out")  # before, not after, the benchmark
    base_url(host)
    spec = load_spec(spec_file)
    cases_path = Path(cases_file) if cases_file else default_cases(run_dir)
    cases = load_cases(cases_path)[: limit or None]
    engine = pick_engine(run_dir, metrics, model, host, engine_name, structured)
    try:
        report = measure(engine, cases, concurrency)
    finally:
        engine.close()
    if compare_f16:
        report["quantization"] = compare_quantization(run_dir, metrics, engine, cases, host, structured, report)
    figures = {"val_loss": metrics["train"].get("val_loss"), "task_creation_accuracy": report["accuracy"]["task_creation_accuracy"],
               "all_operations_accuracy": report["accuracy"]["all_operations_accuracy"],
               "json_valid_rate": report["accuracy"]["json_valid_rate"], "latency_p95_ms": report["latency"]["wall_ms"]["p95"]}
    report["spec"] = {"criteria": judge(spec, figures)}
    report["spec"]["passed"] = all(v["passed"] for v in report["spec"]["criteria"])
    report["run_dir"] = str(run_dir)
    if report["engine"] != "ollama":
        report["engine_note"] = engine_note or ("asked for with --engine" if engine_name == "llama.cpp"
                                                else "no Ollama was reachable")
    report["cases_file"] = str(cases_path)
    report["date"] = dt.datetime.now().isoformat(timespec="seconds")
    write_reports(Path(out_dir) if out_dir else run_dir / "bench", report)
    update_metrics(run_dir, "bench", {k: v for k, v in report.items() if k not in ("requests",)})
    return report


def pick_engine(run_dir: Path, metrics: dict[str, Any], model: str | None, host: str | None, engine_name: str,
                structured: bool) -> Engine:
    if engine_name not in ("auto", "ollama", "llama.cpp"):
        raise FtpackError(f"unknown engine {engine_name!r}: use auto, ollama or llama.cpp")
    registered = metrics.get("register", {}).get("model")
    if engine_name in ("auto", "ollama"):
        try:
            server_version(host)
        except FtpackError as exc:
            if engine_name == "ollama":
                raise
            print(f"ftpack: {exc}; benchmarking in embedded llama.cpp instead", flush=True)
        else:
            if not (model or registered):
                raise FtpackError(f"{run_dir} is not registered in Ollama: run `ftpack register {run_dir} --name NAME` "
                                  "or pass --model NAME:TAG")
            return ollama_engine(model or registered, host, structured)
    gguf = metrics.get("export", {}).get("gguf", {}).get("path")
    if not gguf or not Path(gguf).is_file():
        raise FtpackError(f"{run_dir} has no GGUF to run in llama.cpp: run `ftpack export {run_dir}`")
    return llamacpp_engine(run_dir, Path(gguf), structured)


def measure(engine: Engine, cases: list[Case], concurrency: int) -> dict[str, Any]:
    print(f"ftpack: benchmarking {engine.model} through {engine.name} on {len(cases)} cases", flush=True)
    engine.unload()
    cold = engine.ask(cases[0])  # first request after a fresh load
    engine.ask(cases[0])  # warm-up
    replies, seconds = run_cases(engine, cases)
    metrics, results = score(cases, [r.text for r in replies])
    report: dict[str, Any] = {
        "engine": engine.name, "model": engine.model, **engine.details,
        "n_cases": len(cases),
        "latency": latency_summary([r.timing for r in replies]),
        "cold_start": asdict(cold.timing),
        "sequential_requests_per_second": round(len(cases) / seconds, 2),
        "accuracy": metrics,
        "requests": [{"id": c.id, "request": c.request, "reply": r.text, **asdict(r.timing), "correct": res.correct}
                     for c, r, res in zip(cases, replies, results)],
    }
    if concurrency > 1:
        loaded, seconds = run_cases(engine, cases, concurrency)
        report["concurrency"] = {"clients": concurrency, "requests_per_second": round(len(cases) / seconds, 2),
                                 "latency": latency_summary([r.timing for r in loaded])}
    return report


def compare_quantization(run_dir: Path, metrics: dict[str, Any], engine: Engine, cases: list[Case], host: str | None,
                         structured: bool, report: dict[str, Any]) -> dict[str, Any]:
    """The same cases on the f16 GGUF, same engine kind: the accuracy cost of quantizing."""
    f16 = metrics.get("export", {}).get("gguf_f16", {}).get("path")
    if not f16 or not Path(f16).is_file():
        raise FtpackError(f"{run_dir} has no f16 GGUF to compare with: run `ftpack export {run_dir}`")
    if engine.name == "ollama":
        from ftpack.modelfile import build_spec
        from ftpack.register import connect, create, upload

        spec = build_spec(run_dir)
        spec.gguf = str(Path(f16).resolve())
        client, _ = connect(host)
        digest, _ = upload(client, host, spec.gguf, metrics["export"]["gguf_f16"].get("sha256"))
        name = engine.model.split(":")[0] + ":ftpack-f16-check"
        create(client, name, spec, {"model": digest})
        other = ollama_engine(name, host, structured)
        try:
            replies, _ = run_cases(other, cases)
        finally:
            client.delete(name)
    else:
        other = llamacpp_engine(run_dir, Path(f16), structured)
        try:
            replies, _ = run_cases(other, cases)
        finally:
            other.close()
    f16_metrics, _ = score(cases, [r.text for r in replies])
    keys = ("task_creation_accuracy", "all_operations_accuracy", "json_valid_rate")
    quant = metrics.get("export", {}).get("quant", "q4_k_m")
    return {"reference": "f16 GGUF", "quantized": quant,
            **{f"f16_{k}": f16_metrics[k] for k in keys},
            **{f"{quant}_{k}": report["accuracy"][k] for k in keys},
            **{f"delta_{k}": None if f16_metrics[k] is None or report["accuracy"][k] is None
               else round(report["accuracy"][k] - f16_metrics[k], 4) for k in keys}}


# ------------------------------------------------------------------------------- reports
def write_reports(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out / "report.md", markdown(report))
    plot(out, report)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    lat, acc = report["latency"], report["accuracy"]
    lines = [f"# Benchmark: {report['model']}", "",
             f"Engine: **{report['engine']}**" + (f" {report.get('ollama_version')} at {report.get('host')}"
                                                  if report["engine"] == "ollama" else f" ({report.get('engine_note')})"),
             f"Cases: {report['n_cases']} from `{report['cases_file']}`; structured output: "
             f"{'on' if report.get('structured_output') else 'off'}; date {report['date']}", "",
             "## Spec", "", "| criterion | value | result |", "| --- | --- | --- |"]
    for v in report["spec"]["criteria"]:
        lines.append(f"| {v['criterion']} | {_fmt(v['value'], 4)} | {'PASS' if v['passed'] else 'FAIL'} |")
    lines += ["", f"Overall: **{'PASS' if report['spec']['passed'] else 'FAIL'}**", "",
              "## Latency (warm, sequential)", "", "| figure | p50 | p95 | p99 | max | mean |",
              "| --- | --- | --- | --- | --- | --- |"]
    for key, label in (("wall_ms", "wall time (ms)"), ("ttft_ms", "time to first token (ms)"),
                       ("tokens_per_second", "tokens/s (decode)"), ("prompt_tokens", "prompt tokens"),
                       ("eval_tokens", "reply tokens")):
        row = lat[key]
        lines.append(f"| {label} | " + " | ".join(_fmt(row[p], 1) for p in ("p50", "p95", "p99", "max", "mean")) + " |")
    cold = report["cold_start"]
    lines += ["", f"Cold start (first request after unloading): {_fmt(cold['wall_ms'], 1)} ms wall, "
              f"{_fmt(cold['load_ms'], 1)} ms loading. Sequential throughput: "
              f"{report['sequential_requests_per_second']} requests/s."]
    if "concurrency" in report:
        conc = report["concurrency"]
        lines.append(f"With {conc['clients']} concurrent clients: {conc['requests_per_second']} requests/s, "
                     f"p50 {_fmt(conc['latency']['wall_ms']['p50'], 1)} ms, p95 {_fmt(conc['latency']['wall_ms']['p95'], 1)} ms.")
    lines += ["", "## Accuracy", "", "| metric | value |", "| --- | --- |"]
    for key in ("task_creation_accuracy", "all_operations_accuracy", "json_valid_rate", "schema_valid_rate"):
        lines.append(f"| {key.replace('_', ' ')} | {_fmt(acc[key], 4)} |")
    for name, value in acc["create_field_accuracy"].items():
        lines.append(f"| create: {name} | {_fmt(value, 4)} |")
    for action, row in acc["per_action"].items():
        lines.append(f"| {action} (n={row['n']}) | {_fmt(row['accuracy'], 4)} |")
    if "quantization" in report:
        q = report["quantization"]
        lines += ["", "## Quantization", "", f"Same cases on the f16 GGUF vs {q['quantized']}:", "",
                  "| metric | f16 | quantized | delta |", "| --- | --- | --- | --- |"]
        for key in ("task_creation_accuracy", "all_operations_accuracy", "json_valid_rate"):
            lines.append(f"| {key.replace('_', ' ')} | {_fmt(q['f16_' + key], 4)} | {_fmt(q[q['quantized'] + '_' + key], 4)} "
                         f"| {_fmt(q['delta_' + key], 4)} |")
    failures = acc["failures"]
    lines += ["", f"## Failures ({len(failures)})", ""]
    if failures:
        lines += ["| id | request | got | reason |", "| --- | --- | --- | --- |"]
        for f in failures[:50]:
            cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
            lines.append(f"| {f['id']} | {cell(f['request'])} | `{cell(f['got'])}` | {cell(f['reason'])} |")
        if len(failures) > 50:
            lines.append(f"\n… and {len(failures) - 50} more in report.json.")
    return "\n".join(lines) + "\n"


def plot(out: Path, report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    walls = [r["wall_ms"] for r in report["requests"]]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.hist(walls, bins=30, color="tab:blue", alpha=0.8)
    for key, style in (("p50", "--"), ("p95", "-")):
        value = report["latency"]["wall_ms"][key]
        ax.axvline(value, color="black", linestyle=style, label=f"{key} {value:.0f} ms")
    limit = next((v["limit"] for v in report["spec"]["criteria"] if v["key"] == "latency_p95_ms_max"), None)
    if limit:
        ax.axvline(limit, color="tab:red", label=f"spec p95 < {limit:.0f} ms")
    ax.set_xlabel("wall time per request (ms)")
    ax.set_ylabel("requests")
    ax.set_title(f"Latency: {report['model']} ({report['engine']})", fontsize=9)
    ax.legend()
    fig.tight_layout()
    with atomic_path(out / "latency.png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)

    acc = report["accuracy"]
    labels = ["task creation", "all operations", "JSON valid", *[f"create: {k}" for k in acc["create_field_accuracy"]]]
    values = [acc["task_creation_accuracy"], acc["all_operations_accuracy"], acc["json_valid_rate"],
              *acc["create_field_accuracy"].values()]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.barh(labels[::-1], [v or 0 for v in values[::-1]], color="tab:green")
    limit = next((v["limit"] for v in report["spec"]["criteria"] if v["key"] == "task_creation_accuracy_min"), None)
    if limit:
        ax.axvline(limit, color="tab:red", label=f"spec task creation > {limit:g}")
        ax.legend(loc="lower right")
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy")
    ax.set_title(f"Accuracy: {report['model']}", fontsize=9)
    fig.tight_layout()
    with atomic_path(out / "accuracy.png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
