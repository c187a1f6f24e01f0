import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftpack import anchor
from ftpack.bench import DEFAULT_SPEC, bench, judge, load_spec, percentiles
from ftpack.errors import FtpackError
from ftpack.evalsets import SHIPPED_SETS
from ftpack.score import load_cases


def test_percentiles():
    figures = percentiles([float(v) for v in range(1, 101)])
    assert figures["p50"] == 50.5 and figures["max"] == 100.0 and 95 <= figures["p95"] <= 96


def test_uncached_prompt_tokens_are_those_after_the_shared_prefix():
    from ftpack.bench.engines import uncached_count

    assert uncached_count(None, [1, 2, 3]) == 3
    assert uncached_count([1, 2, 3, 9, 9], [1, 2, 3, 4, 5]) == 2
    assert uncached_count([1, 2, 3], [1, 2, 3]) == 1  # the last prompt token is evaluated anyway, for its logits
    assert uncached_count([7, 2], [1, 2, 3]) == 3


def test_judge_against_the_capstone_spec():
    verdicts = judge(DEFAULT_SPEC, {"val_loss": 0.4, "task_creation_accuracy": 0.93, "latency_p95_ms": 620.0,
                                    "invented_id_rate": 0.0})
    assert [(v["key"], v["passed"]) for v in verdicts] == [
        ("val_loss_max", True), ("task_creation_accuracy_min", True), ("latency_p95_ms_max", False),
        ("invented_id_rate_max", True)]
    assert not judge({"val_loss_max": 1.0}, {"val_loss": None})[0]["passed"]  # unknown figure fails
    # one invented id is enough to fail: acting on a task the user never named is the worst error
    assert not judge({"invented_id_rate_max": 0.0}, {"invented_id_rate": 0.004})[0]["passed"]


def test_spec_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("task_creation_accuracy_min: 0.8\nlatency_p95_ms_max: 900\n")
    assert load_spec(str(path)) == {"task_creation_accuracy_min": 0.8, "latency_p95_ms_max": 900.0}
    path.write_text("speed_min: 3\n")
    with pytest.raises(FtpackError, match="unknown spec criterion 'speed_min'"):
        load_spec(str(path))


def check_reports(out: Path, engine: str):
    report = json.loads((out / "report.json").read_text())
    assert report["engine"] == engine
    assert report["n_cases"] == 8 and len(report["requests"]) == 8
    for key in ("p50", "p95", "p99", "max"):
        assert report["latency"]["wall_ms"][key] > 0
    assert report["cold_start"]["wall_ms"] > 0
    assert {v["key"] for v in report["spec"]["criteria"]} == set(DEFAULT_SPEC)
    assert 0 <= report["accuracy"]["json_valid_rate"] <= 1
    client = report["accuracy"]["with_client"]  # a guessed id is never acted on by the client
    assert client["invented_ids"] == 0
    # every reply the model ended itself that is malformed or not anchored in its request, and only
    # those, is asked again under the request's anchored schema, whose grammar makes the second try
    # a JSON object from its first token; constrained replies and replies cut at the token cap (the
    # tiny model's loops) are not asked again
    today = {c.id: c.today for c in load_cases(SHIPPED_SETS["hand-written"])}
    malformed = [] if report["structured_output"] else [
        r for r in report["requests"] if not r["cut"] and anchor.needs_second_try(r["request"], r["reply"], today[r["id"]])]
    assert client["retries"] == len(malformed)
    assert [r["id"] for r in report["requests"] if "retry_reply" in r] == [r["id"] for r in malformed]
    assert all(r["retry_reply"].startswith("{") and r["retry_wall_ms"] > 0 for r in malformed)
    # the constant system prompt stays cached: a warm request evaluates only its own part of the prompt
    warm = report["requests"][1:]
    assert all(0 < r["prompt_tokens"] < r["prompt_tokens_total"] for r in warm if r["prompt_tokens_total"])
    assert all(r["prompt_tokens"] for r in warm)
    text = (out / "report.md").read_text()
    assert "| all operations, as the client acts |" in text
    assert "| unasked edits: update/complete/delete where none or another task was asked (count) |" in text
    assert all("unasked_edit" in r for r in report["requests"])
    assert "| prompt tokens evaluated (not in the cache) |" in text
    assert "## Spec" in text and "## Latency" in text and "## Accuracy" in text
    for png in ("latency.png", "accuracy.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    return report


def test_a_second_try_decodes_under_the_anchored_schema(tiny_export):
    """The client's second try: constrained whatever the engine's setting, so even the untrained
    tiny model writes a reply object from its first token, and what it writes comes from the
    request: a title that is a run of its words, no id it does not name."""
    from ftpack.bench.engines import llamacpp_engine

    run_dir, exported = tiny_export
    engine = llamacpp_engine(Path(run_dir), Path(exported["gguf"]["path"]), structured=False)
    try:
        cases = load_cases(SHIPPED_SETS["hand-written"])[:6]
        seconds = [engine.ask(case, constrained=True) for case in cases]
    finally:
        engine.close()
    for case, second in zip(cases, seconds):
        print(case.request, second.text)
        assert second.text.startswith(('{"create":', '{"update":', '{"complete":', '{"delete":', '{"list":', '{"clarify":'))
        if second.text.startswith('{"create":"'):  # a run of the request's words, though cut short or not
            title = second.text.removeprefix('{"create":"').split('"')[0]
            assert any(anchor.is_title_of(case.request, " ".join(title.split(" ")[:n]))
                       for n in range(1, len(title.split(" ")) + 1)), title
        if not second.cut:
            assert not anchor.needs_second_try(case.request, second.text, case.today), second.text


def test_bench_embedded_llamacpp(tiny_export, tmp_path):
    run_dir, _ = tiny_export
    report = check_reports_after(bench(run_dir, engine_name="llama.cpp", out_dir=tmp_path / "bench", compare_f16=True,
                                       limit=8), tmp_path / "bench", "llama.cpp (embedded)")
    text = (tmp_path / "bench" / "report.md").read_text()
    assert "asked for with --engine" in text
    assert "delta_task_creation_accuracy" in report["quantization"]
    # all sets side by side; the spec judges the first hand-written one
    assert list(report["sets"]) == ["hand-written", "held-out", "generated"]
    assert report["spec"]["judged_set"] == "hand-written"
    assert report["cases_file"].endswith("evalsets/handwritten.jsonl")
    assert "| metric | hand-written | held-out | generated |" in text and "## Failures, generated set" in text
    assert report["training"]["train_rows"] == 48


def check_reports_after(report, out, engine):
    assert report["spec"]["passed"] is False  # an 8-step tiny model cannot meet the spec
    return check_reports(out, engine)


@pytest.mark.ollama
def test_bench_through_ollama(tiny_export, ollama_url, tmp_path):
    from ftpack.register import register

    run_dir, _ = tiny_export
    register(run_dir, "ftpack-test-bench", host=ollama_url)
    run = subprocess.run([sys.executable, "-m", "ftpack", "bench", run_dir, "--model", "ftpack-test-bench:candidate",
                          "--structured", "--concurrency", "2", "--out", str(tmp_path / "bench"), "--strict",
                          "--host", ollama_url, "--limit", "8"], capture_output=True, text=True)
    assert run.returncode == 1, run.stderr  # --strict: the tiny model fails the spec
    assert "FAIL  task-creation accuracy > 0.9" in run.stdout
    report = check_reports(tmp_path / "bench", "ollama")
    assert report["structured_output"] is True
    assert all(r["reply"].startswith('{"') for r in report["requests"])  # the schema constrains decoding
    assert report["concurrency"]["clients"] == 2 and report["concurrency"]["requests_per_second"] > 0
    assert report["latency"]["ttft_ms"]["p50"] > 0 and report["cold_start"]["ttft_ms"] > 0
    # (the random tiny model loops until the reply cap, and this Ollama build then ends the stream without
    # its final timing record; the SmolLM2 benchmark under bench/ shows load/prompt/eval figures)


def test_bench_needs_a_run(tmp_path):
    run = subprocess.run([sys.executable, "-m", "ftpack", "bench", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 2 and "not a finished training run" in run.stderr


def test_an_untagged_model_name_means_latest_as_in_ollama():
    from ftpack.bench.engines import with_tag

    assert with_tag("v6a") == "v6a:latest"
    assert with_tag("taskapi:candidate") == "taskapi:candidate"
    assert with_tag("me/taskapi") == "me/taskapi:latest"
    assert with_tag("localhost:5000/me/taskapi") == "localhost:5000/me/taskapi:latest"


@pytest.mark.parametrize("ratio, cpus, advised", [(1.78, 2, True), (1.10, 2, False), (1.78, 16, False), (None, 2, False)])
def test_serving_advice_only_where_a_local_ollama_on_few_cores_serves_far_above_the_floor(ratio, cpus, advised):
    from ftpack.bench.floor import serving_advice

    floor = {"served_over_floor": {"p50": ratio, "p95": ratio}, "machine": {"logical_cpus": cpus}}
    advice = serving_advice(floor)
    assert (advice is not None) == advised
    if advised:
        assert "1.78x" in advice and "GOMAXPROCS=1" in advice and "README" in advice


def test_paired_runs_pools_what_the_saved_reports_hold(tmp_path):
    script = Path(__file__).resolve().parent.parent / "bench" / "paired_runs.py"
    reports = script.parent / "reports"
    pairs = [("amx-default", "amx-neftune"), ("amx-default-seed8", "amx-neftune-seed8")]
    run = subprocess.run([sys.executable, str(script), "pairs", *(f"{b}:{c}" for b, c in pairs), "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    pooled = json.loads((tmp_path / "pairs.json").read_text())["pooled"]

    def counted(run_name: str) -> tuple[int, int]:
        accuracy = {k: one["accuracy"] for k, one in json.loads((reports / run_name / "report.json").read_text())["sets"].items()}
        creates = sum(round(accuracy[k]["task_creation_accuracy"] * accuracy[k]["n_create_cases"]) for k in ("hand-written", "held-out"))
        return creates, sum(accuracy[k]["unasked_edits"] for k in ("hand-written", "held-out"))

    for side, runs in (("base", [b for b, _ in pairs]), ("change", [c for _, c in pairs])):
        assert (pooled[side]["hw+ho creates"], pooled[side]["unasked edits"]) == tuple(map(sum, zip(*map(counted, runs))))
    assert "| hw+ho creates |" in (tmp_path / "pairs.md").read_text()
    for bad, says in [("amx-default", "give BASE:CHANGE"), ("amx-default:no-such-run", "no report at")]:
        run = subprocess.run([sys.executable, str(script), "x", bad, "--out", str(tmp_path)], capture_output=True, text=True)
        assert run.returncode == 2 and says in run.stderr and "Traceback" not in run.stderr


def test_failure_spread_counts_each_case_over_the_runs(tmp_path):
    script = Path(__file__).resolve().parent.parent / "bench" / "failure_spread.py"
    reports = script.parent / "reports"
    runs = ["amx-default", "amx-default-seed8"]
    run = subprocess.run([sys.executable, str(script), "spread", *runs, "--out", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    spread = json.loads((tmp_path / "spread.json").read_text())["sets"]["hand-written"]
    failures = [{f["id"]: f["expected_action"] for f in
                 json.loads((reports / r / "report.json").read_text())["sets"]["hand-written"]["accuracy"]["failures"]}
                for r in runs]
    both = set(failures[0]) & set(failures[1])
    assert {case["id"] for case in spread["steady cases"]} == both
    assert spread["all operations"]["mean failures per run"] == (len(failures[0]) + len(failures[1])) / 2
    assert spread["all operations"]["cases by runs failed"] == {"1": len(set(failures[0]) ^ set(failures[1])), "2": len(both)}
    creates = sum(action == "create_task" for f in failures for action in f.values())
    assert spread["creates only"]["mean failures per run"] == creates / 2
    assert spread["create failures a 95% bar allows per run"] == 7  # 143 of 150 is the least that passes
    for bad, says in [(["amx-default"], "at least two runs"), (["amx-default", "no-such-run"], "no report at")]:
        run = subprocess.run([sys.executable, str(script), "x", *bad, "--out", str(tmp_path)], capture_output=True, text=True)
        assert run.returncode == 2 and says in run.stderr and "Traceback" not in run.stderr
