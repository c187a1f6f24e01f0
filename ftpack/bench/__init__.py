"""Stage 6: benchmark a model through Ollama (or embedded llama.cpp) and judge it against the spec.

By default three case sets are run: the two hand-written sets shipped with ftpack
(ftpack/evalsets: written by people who never saw the generator, one "class" per kind of input;
the second, "held-out", was never used to tune anything) and the generated test split beside the
training data. The spec gate judges the first hand-written set: a model that only learned the
generator's templates must not pass. `--cases FILE` runs one set of the user's own instead.

Each request goes to /api/chat at temperature 0 with the training system prompt, streamed, after
one warm-up request. Recorded per request: wall time, time to first token, the engine's load /
prompt-eval / eval durations and counts, and tokens/s. A cold-start request follows an unload.
Replies are scored with ftpack.score (accuracy per action and class, clarify accuracy, invented
task ids), and again as a client acts on them: a reply that is malformed or holds a value its
request does not (ftpack.anchor) asked again under the reply's JSON Schema narrowed to the
request's words, date phrases and ids, then the id guard (taskapi.guard_call). `--concurrency N` adds a
throughput phase with N clients. `--compare-f16` runs the judged set on the unquantized GGUF for
the accuracy cost of quantization. With no Ollama reachable, the run's GGUF runs in embedded
llama.cpp instead, and every report says so.

Reports: RUN_DIR/bench/report.json, report.md, latency.png, accuracy.png.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ftpack import anchor
from ftpack.bench.engines import Engine, Reply, llamacpp_engine, ollama_engine, prompt_token_ids
from ftpack.bench.floor import floor_report, serving_advice
from ftpack.bench.figures import DEFAULT_SPEC, judge, latency_summary, load_spec, percentiles  # noqa: F401
from ftpack.bench.report import write_reports
from ftpack.errors import FtpackError
from ftpack.evalsets import SHIPPED_SETS
from ftpack.fsutil import check_writable
from ftpack.ollama_host import base_url, server_version
from ftpack.rundir import export_path, finished_run, load_run_config, update_metrics
from ftpack.score import Case, guarded_reply, load_cases, score



@dataclass
class CaseSet:
    name: str
    path: Path
    cases: list[Case]


CLIENT_FIGURES = ("task_creation_accuracy", "all_operations_accuracy", "clarify_accuracy", "json_valid_rate",
                  "invented_ids", "unasked_edits")


def case_sets(run_dir: Path, cases_file: str | None, limit: int | None) -> list[CaseSet]:
    """The sets to run, the judged one first: the user's file, or the shipped sets + generated."""
    if cases_file:
        paths = [(Path(cases_file).stem, Path(cases_file))]
    else:
        paths = list(SHIPPED_SETS.items())
        generated = default_cases(run_dir)
        if generated.is_file():
            paths.append(("generated", generated))
    return [CaseSet(name, path, load_cases(path)[: limit or None]) for name, path in paths]


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
    sets = case_sets(run_dir, cases_file, limit)
    engine = pick_engine(run_dir, metrics, model, host, engine_name, structured)
    try:
        report = measure(engine, sets, concurrency)
    finally:
        engine.close()
    judged = sets[0]
    if compare_f16:
        report["quantization"] = compare_quantization(run_dir, metrics, engine, judged.cases, host, structured, report)
    gguf = export_path(run_dir, metrics.get("export", {}).get("gguf"))
    if gguf and gguf.is_file():
        report["floor"] = floor_report(gguf, report["requests"], spec.get("latency_p95_ms_max"))
        if report["engine"] == "ollama":
            report["floor"]["advice"] = serving_advice(report["floor"])
    accuracy = report["accuracy"]
    figures = {"val_loss": metrics["train"].get("val_loss"), "latency_p95_ms": report["latency"]["wall_ms"]["p95"],
               **{key: accuracy[key] for key in ("task_creation_accuracy", "all_operations_accuracy",
                                                 "json_valid_rate", "clarify_accuracy", "invented_id_rate")}}
    report["spec"] = {"judged_set": judged.name, "criteria": judge(spec, figures)}
    report["spec"]["passed"] = all(v["passed"] for v in report["spec"]["criteria"])
    report["training"] = {key: metrics["train"].get(key) for key in
                          ("train_rows", "train_tokens", "epochs", "steps", "train_seconds", "device", "backend", "soup")}
    report["run_dir"] = str(run_dir)
    if report["engine"] != "ollama":
        report["engine_note"] = engine_note or ("asked for with --engine" if engine_name == "llama.cpp"
                                                else "no Ollama was reachable")
    report["date"] = dt.datetime.now().isoformat(timespec="seconds")
    write_reports(Path(out_dir) if out_dir else run_dir / "bench", report)
    update_metrics(run_dir, "bench", without_requests(report))
    return report


def without_requests(report: dict[str, Any]) -> dict[str, Any]:
    """The report less its per-request rows (for metrics.json and the ship manifest)."""
    slim = {k: v for k, v in report.items() if k not in ("requests", "sets")}
    slim["sets"] = {name: {k: v for k, v in one.items() if k != "requests"} for name, one in report["sets"].items()}
    return slim


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
            return ollama_engine(model or registered, host, structured, prompt_tokens=prompt_token_ids(run_dir))
    gguf = export_path(run_dir, metrics.get("export", {}).get("gguf"))
    if not gguf or not gguf.is_file():
        raise FtpackError(f"{run_dir} has no GGUF to run in llama.cpp: run `ftpack export {run_dir}`")
    return llamacpp_engine(run_dir, gguf, structured)


def measure(engine: Engine, sets: list[CaseSet], concurrency: int) -> dict[str, Any]:
    """Run every set through one loaded engine; the first set's figures are the report's headline."""
    judged = sets[0]
    print(f"ftpack: benchmarking {engine.model} through {engine.name} on "
          + ", ".join(f"{len(s.cases)} {s.name} cases" for s in sets), flush=True)
    engine.unload()
    cold = engine.ask(judged.cases[0])  # first request after a fresh load
    engine.ask(judged.cases[0])  # warm-up
    results_by_set = {}
    for one in sets:
        replies, seconds = run_cases(engine, one.cases)
        accuracy, results = score(one.cases, [r.text for r in replies])
        retries = client_retries(engine, one.cases, replies)
        client_texts = [retries[i].text if i in retries else r.text for i, r in enumerate(replies)]
        client, _ = score(one.cases, [guarded_reply(c.request, t) for c, t in zip(one.cases, client_texts)])
        # what the client waits for: a second try adds its whole time to the first's
        waited = [r.timing.wall_ms + (retries[i].timing.wall_ms if i in retries else 0) for i, r in enumerate(replies)]
        accuracy["with_client"] = {**{key: client[key] for key in CLIENT_FIGURES}, "retries": len(retries),
                                   "wall_ms": percentiles(waited)}
        results_by_set[one.name] = {
            "cases_file": str(one.path), "n_cases": len(one.cases),
            "latency": latency_summary([r.timing for r in replies]),
            "sequential_requests_per_second": round(len(one.cases) / seconds, 2),
            "accuracy": accuracy,
            "requests": [{"id": c.id, "class": c.category, "request": c.request, "reply": r.text, **asdict(r.timing),
                          "correct": res.correct, "invented_id": res.invented_id,
                          "unasked_edit": res.unasked_edit, "cut": r.cut,
                          **({"retry_reply": retries[i].text, "retry_wall_ms": round(retries[i].timing.wall_ms, 1)}
                             if i in retries else {})}
                         for i, (c, r, res) in enumerate(zip(one.cases, replies, results))],
        }
    headline = results_by_set[judged.name]
    report: dict[str, Any] = {
        "engine": engine.name, "model": engine.model, **engine.details,
        **{k: headline[k] for k in ("cases_file", "n_cases", "latency", "sequential_requests_per_second",
                                    "accuracy", "requests")},
        "cold_start": asdict(cold.timing),
        "sets": results_by_set,
    }
    if concurrency > 1:
        loaded, seconds = run_cases(engine, judged.cases, concurrency)
        report["concurrency"] = {"clients": concurrency, "requests_per_second": round(len(judged.cases) / seconds, 2),
                                 "latency": latency_summary([r.timing for r in loaded])}
    return report


def client_retries(engine: Engine, cases: list[Case], replies: list[Reply]) -> dict[int, Reply]:
    """The second tries a client makes: each reply the model ended itself that is malformed or not
    anchored in its request (anchor.needs_second_try), asked again under the request's anchored
    schema. None when every request was constrained already; none for a reply cut at the token
    cap, a loop that a second try repeats as long."""
    if engine.details.get("structured_output"):
        return {}
    return {i: engine.ask(case, constrained=True) for i, (case, reply) in enumerate(zip(cases, replies))
            if not reply.cut and anchor.needs_second_try(case.request, reply.text, case.today)}


def compare_quantization(run_dir: Path, metrics: dict[str, Any], engine: Engine, cases: list[Case], host: str | None,
                         structured: bool, report: dict[str, Any]) -> dict[str, Any]:
    """The same cases on the f16 GGUF, same engine kind: the accuracy cost of quantizing."""
    f16 = export_path(run_dir, metrics.get("export", {}).get("gguf_f16"))
    if not f16 or not f16.is_file():
        raise FtpackError(f"{run_dir} has no f16 GGUF to compare with: run `ftpack export {run_dir}`")
    if engine.name == "ollama":
        from ftpack.modelfile import build_spec
        from ftpack.register import connect, create, upload

        spec = build_spec(run_dir)
        spec.gguf = str(f16.resolve())
        client, _ = connect(host)
        digest, _ = upload(client, host, spec.gguf, metrics["export"]["gguf_f16"].get("sha256"))
        name = engine.model.split(":")[0] + ":ftpack-f16-check"
        create(client, name, spec, {"model": digest})
        other = ollama_engine(name, host, structured, prompt_tokens=prompt_token_ids(run_dir))
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
