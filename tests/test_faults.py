"""Bad input, as a new user would give it, to every command: each fault gets exit code 2, one line on
stderr naming what is wrong, and leaves the user's files as they were (issue 12)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ftpack.errors import FtpackError
from ftpack.rundir import MARKER, plan_run

LATIN1 = "caf\xe9 remind me\n".encode("latin-1")


def ftpack(*args, cwd=None, env=None, limit_file_size=None):
    """The CLI as a user runs it: in-process (fast), or as a process with a file-size limit (a full disk)."""
    if limit_file_size:
        def limits():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

        return subprocess.run([sys.executable, "-m", "ftpack", *map(str, args)], capture_output=True, text=True,
                              cwd=cwd, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
                              preexec_fn=limits)
    from click.testing import CliRunner

    from ftpack.cli import main

    here = os.getcwd()
    os.chdir(cwd or here)
    try:
        result = CliRunner().invoke(main, list(map(str, args)), env=env)
    finally:
        os.chdir(here)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def one_line_error(run, *fragments, after_progress=False):
    """Exit 2 and one error line; after_progress: training's progress output may come before it."""
    assert run.returncode == 2, (run.returncode, run.stdout[-2000:], run.stderr[-2000:])
    error = run.stderr.splitlines()[-1] if after_progress else run.stderr
    assert error.startswith("error: ") and run.stderr.count("error: ") == 1, run.stderr
    assert after_progress or run.stderr.count("\n") == 1, run.stderr
    assert "Traceback" not in run.stderr and ".partial" not in run.stderr, run.stderr
    for fragment in fragments:
        assert fragment in run.stderr, run.stderr


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def finished_copy(tiny_run, tmp_path, name="run") -> Path:
    cfg, _ = tiny_run
    copy = tmp_path / name
    shutil.copytree(cfg.run_dir, copy, ignore=shutil.ignore_patterns("export", "bench"))
    return copy


# ----------------------------------------------------------------- 1. nothing deleted that ftpack did not make
def test_ship_refuses_a_run_dir_that_is_not_an_ftpack_run(tmp_path):
    folder = tmp_path / "my-thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("years of work")
    run = ftpack("--set", f"data.out_dir={tmp_path / 'data'}", "ship", "--run-dir", folder, cwd=tmp_path)
    one_line_error(run, f"--run-dir {folder} already holds files that are not an ftpack run")
    assert snapshot(folder) == {"chapter1.tex": b"years of work"}
    assert not (tmp_path / "data").exists()  # refused before the first stage


@pytest.mark.parametrize("target", [".", "..", "~"])
def test_ship_and_train_refuse_the_working_folder_its_parents_and_home(tmp_path, target):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("keep me")
    run_dir = str(Path.home()) if target == "~" else target
    for command in (["ship"], ["train", "--overwrite"]):
        run = ftpack("--set", f"data.out_dir={tmp_path / 'data'}", *command, "--run-dir", run_dir, cwd=work)
        one_line_error(run, f"--run-dir {run_dir}: it ")
    assert (work / "notes.txt").read_text() == "keep me"
    with pytest.raises(FtpackError, match="home folder|working folder"):
        plan_run(Path.home(), overwrite=True)


def test_train_overwrite_keeps_the_finished_run_when_the_new_one_fails_its_checks(tiny_run, tmp_path):
    run_dir = finished_copy(tiny_run, tmp_path)
    before = snapshot(run_dir)
    run = ftpack("train", "--run-dir", run_dir, "--overwrite", "--data", tmp_path / "missing.jsonl")
    one_line_error(run, "train file not found")
    assert snapshot(run_dir) == before
    (run_dir / MARKER).unlink()  # a folder ftpack cannot prove it made is never replaced
    cfg, _ = tiny_run
    run = ftpack("train", "--run-dir", run_dir, "--overwrite", "--base-model", cfg.base_model,
                 "--data", cfg.train_file, "--val", cfg.val_file)
    one_line_error(run, "not an ftpack run", "choose another --run-dir")
    assert set(snapshot(run_dir)) == set(before) - {MARKER}


def test_overwrite_is_built_beside_the_old_run_and_swapped_in_on_success(tiny_run, tmp_path):
    from models import tiny_config
    from tests_helpers import CrashAfterSave

    from ftpack.train import train

    old_cfg, _ = tiny_run
    run_dir = finished_copy(tiny_run, tmp_path)
    before = snapshot(run_dir)
    cfg = tiny_config(Path(old_cfg.base_model), Path(old_cfg.train_file).parent, run_dir, learning_rate=5e-3)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, overwrite=True, extra_callbacks=[CrashAfterSave(4)])
    assert snapshot(run_dir) == before  # killed halfway: the old run is untouched
    staging = tmp_path / ".run.next"
    assert (staging / "checkpoints" / "checkpoint-4").is_dir()
    metrics = train(cfg, resume=True)  # continues the replacement, then swaps it in
    assert metrics["resumed_from"].endswith("checkpoint-4") and metrics["steps"] == 8
    assert json.loads((run_dir / "train_config.json").read_text())["learning_rate"] == 5e-3
    assert (run_dir / MARKER).is_file() and not staging.exists() and not (tmp_path / ".run.old").exists()


def test_a_failed_start_leaves_no_stub_and_the_retry_runs(tiny_model, tiny_data, tmp_path):
    run_dir = tmp_path / "runs" / "first"
    common = ["train", "--run-dir", run_dir, "--base-model", tiny_model, "--data", tiny_data / "train.jsonl",
              "--val", tiny_data / "val.jsonl", "--max-steps", "2", "--batch-size", "4", "--grad-accum", "1"]
    run = ftpack(*common, "--max-length", "8")  # fails after the model is loaded
    one_line_error(run, "every row is longer than max_length=8", after_progress=True)
    assert not run_dir.exists()
    stub = tmp_path / "runs" / "stub"  # what an older version's failed start left: marker and config only
    stub.mkdir()
    (stub / MARKER).write_text("")
    (stub / "train_config.json").write_text("{}")
    assert plan_run(stub, overwrite=False) == "restart"
    run = ftpack(*common)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "ftpack: warning: only 48 training row(s)" in run.stdout
    assert "ftpack: step " in run.stdout and " left" in run.stdout  # the ETA
    assert (run_dir / "adapter" / "adapter_config.json").is_file()


def test_sweep_overwrite_deletes_only_a_sweep_folder(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "paper.pdf").write_text("x")
    run = ftpack("sweep", "--run-dir", folder, "--overwrite")
    one_line_error(run, "not an ftpack run")
    assert (folder / "paper.pdf").is_file()


# ----------------------------------------------------------------- 2. every setting checked when loaded
@pytest.mark.parametrize("args, message", [
    (["--set", "train.epochs=-1", "train"], "config train.epochs: '-1' is not valid: input should be greater than 0"),
    (["train", "--lr", "-1"], "config train.learning_rate: -1.0 is not valid: input should be greater than 0"),
    (["--set", "train.lora_r=0", "train"], "config train.lora_r: '0' is not valid"),
    (["--set", "train.max_steps=0", "train"], "0 would train nothing"),
    (["--set", "train.backend=gpu", "train"], "input should be 'auto', 'unsloth' or 'trl'"),
    (["--set", "data.n_train=0", "data", "generate"], "config data.n_train: '0' is not valid"),
    (["--set", "data.n_train=-3", "data", "generate"], "greater than or equal to 1"),
    (["data", "generate", "--train", "100000000"], "less than or equal to 100000"),
    (["--set", "data.n_train=100000000", "data", "generate"], "less than or equal to 100000"),
    (["--set", "ship.name=Task API", "ship"], "an Ollama model name"),
    (["--set", "ship.host=localhost:port", "ship"], "not an Ollama address"),
    (["--set", "sweep.lora_ranks=8,0", "sweep"], "item 2: input should be greater than or equal to 1"),
])
def test_bad_settings_are_refused_before_anything_runs(tmp_path, args, message):
    run = ftpack("--set", f"data.out_dir={tmp_path / 'data'}", "--set", f"train.run_dir={tmp_path / 'run'}", *args,
                 cwd=tmp_path)
    one_line_error(run, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_yaml_is_checked_like_set_and_names_the_line(tmp_path):
    path = tmp_path / "ftpack.yaml"
    path.write_bytes(b"\xef\xbb\xbfdata:\n  seed: 3\ntrain:\n  epochs: -1\n")  # a BOM is fine, epochs is not
    run = ftpack("--config", path, "train", cwd=tmp_path)
    one_line_error(run, f"{path}:4: config train.epochs: -1 is not valid")


def test_quant_names_are_case_insensitive(tmp_path):
    from ftpack.config import load_config

    config = load_config(None, ["ship.quant=Q4_K_M", "ship.extra_quants=Q8_0,f16"])
    assert (config.ship.quant, config.ship.extra_quants) == ("q4_k_m", ["q8_0", "f16"])
    run = ftpack("export", tmp_path / "none", "--quant", "Q4_0", "--also-quant", "Q8_0")
    one_line_error(run, "run dir not found")  # the flag was accepted


# ----------------------------------------------------------------- 3. checked before the first stage
def test_ship_checks_everything_before_the_first_stage(tmp_path, tiny_model):
    base = ["--set", f"data.out_dir={tmp_path / 'data'}", "--set", f"train.base_model={tiny_model}",
            "--set", f"train.train_file={tmp_path / 'data' / 'train.jsonl'}",
            "--set", f"train.val_file={tmp_path / 'data' / 'val.jsonl'}"]
    run = ftpack(*base, "--set", "ship.spec=missing-spec.yaml", "ship", "--run-dir", tmp_path / "r1", cwd=tmp_path)
    one_line_error(run, "spec file not found: missing-spec.yaml")
    bad_spec = tmp_path / "spec.yaml"
    bad_spec.write_bytes(b"val_loss_max: 1.0 # \xe9\n")
    run = ftpack(*base, "--set", f"ship.spec={bad_spec}", "ship", "--run-dir", tmp_path / "r1")
    one_line_error(run, f"{bad_spec}:1: not UTF-8 text")
    run = ftpack(*base, "ship", "--run-dir", tmp_path / "r1", env={"OLLAMA_HOST": "http://[::1"})
    one_line_error(run, "OLLAMA_HOST 'http://[::1' is not an Ollama address")
    run_dir = tmp_path / "r2"  # an ftpack run whose bench folder cannot be written: a file sits there
    run_dir.mkdir()
    (run_dir / MARKER).write_text("")
    (run_dir / "bench").write_text("in the way")
    run = ftpack(*base, "ship", "--run-dir", run_dir)
    one_line_error(run, "the benchmark report folder", "is a file, not a folder")
    run = ftpack(*base, "--set", "train.base_model=no/such-model-dir/", "ship", "--run-dir", tmp_path / "r1")
    one_line_error(run, "base model 'no/such-model-dir/' not found")
    assert not (tmp_path / "data").exists()


def test_bench_out_under_a_file_is_refused_before_the_benchmark(tiny_run, tmp_path):
    run_dir = finished_copy(tiny_run, tmp_path)
    before = snapshot(run_dir)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = ftpack("bench", run_dir, "--out", blocker / "reports", "--engine", "llama.cpp")
    one_line_error(run, f"--out {blocker / 'reports'}: {blocker} is a file, not a folder")
    assert snapshot(run_dir) == before


# ----------------------------------------------------------------- the dataset, all or none
def test_data_generate_is_all_or_none_and_cleans_killed_leftovers(tmp_path):
    out = tmp_path / "data"
    assert ftpack("data", "generate", "--out", out, "--seed", "1").returncode == 0
    before = snapshot(out)
    gone = subprocess.Popen(["true"])  # a pid that no longer runs, as a killed run's leftover has
    gone.wait()
    leftover = tmp_path / f".data.{gone.pid}.k1ll3d.partial"
    leftover.mkdir()
    (leftover / "train.jsonl").write_text("half")
    run = ftpack("data", "generate", "--out", out, "--seed", "2", limit_file_size=20_000)
    one_line_error(run, f"cannot write {out}/", ".jsonl: File too large; free some disk space")
    assert snapshot(out) == before  # not a mix of old and new files
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temporary folder left, the stale one gone
    (out / "README.md").write_text("my notes")
    assert ftpack("data", "generate", "--out", out, "--seed", "2").returncode == 0
    after = snapshot(out)
    assert after["README.md"] == b"my notes" and after["test.jsonl"] != before["test.jsonl"]


# ----------------------------------------------------------------- one line, never raw exception text
def test_non_utf8_and_bom_inputs(tmp_path, tiny_model):
    good = json.dumps({"prompt": "hi", "completion": "hello"}) + "\n"
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + good.encode())
    run = ftpack("data", "validate", bom)
    assert run.returncode == 0 and "1 rows, ok" in run.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(good.encode() + LATIN1)
    one_line_error(ftpack("data", "validate", bad), f"{bad}:2: not UTF-8 text (byte 0xe9)")
    one_line_error(ftpack("data", "convert", bad, tmp_path / "out.jsonl"), f"{bad}:2: not UTF-8")
    one_line_error(ftpack("train", "--data", bad, "--val", "", "--base-model", tiny_model,
                          "--run-dir", tmp_path / "r"), f"{bad}:2: not UTF-8")
    template = tmp_path / "t.jinja"
    template.write_bytes(LATIN1)
    one_line_error(ftpack("train", "--data", bom, "--val", "", "--base-model", tiny_model, "--run-dir",
                          tmp_path / "r", "--chat-template", template), f"{template}:1: not UTF-8")
    bad_first = tmp_path / "cases.jsonl"
    bad_first.write_bytes(LATIN1)
    one_line_error(ftpack("score", bad_first, bom), f"{bad_first}:1: not UTF-8")
    one_line_error(ftpack("--config", bad, "schema"), f"{bad}:2: not UTF-8")
    assert not (tmp_path / "r").exists() and not (tmp_path / "out.jsonl").exists()


def test_score_reply_files_of_another_shape_and_deep_nesting(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"id": "1", "today": "2026-11-21", "request": "buy milk",
                                 "expected": {"action": "create_task", "title": "Buy milk"}}) + "\n")
    replies = tmp_path / "replies.jsonl"
    replies.write_text(json.dumps({"text": "{}"}) + "\n")
    one_line_error(ftpack("score", cases, replies), f"{replies}:1: no reply text")
    replies.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    one_line_error(ftpack("score", cases, replies), f"{replies}:1: not JSON (nested too deeply)")
    replies.write_text(json.dumps("[" * 100_000) + "\n")  # a reply that is itself absurdly nested
    assert ftpack("score", cases, replies).returncode == 0
    cases.write_text("[1, 2]\n")
    one_line_error(ftpack("score", cases, replies), f"{cases}:1: bad case: not a JSON object")
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "\n")
    run = ftpack("data", "validate", deep)
    assert run.returncode == 1 and f"{deep}:1: bad JSON: nested too deeply" in run.stderr


def test_damaged_or_incomplete_runs(tiny_run, tmp_path):
    run_dir = finished_copy(tiny_run, tmp_path)
    text = (run_dir / "metrics.json").read_text()
    (run_dir / "metrics.json").write_text(text[: len(text) // 2])  # truncated, e.g. a full disk elsewhere
    for command in (["export", run_dir], ["modelfile", run_dir], ["bench", run_dir]):
        one_line_error(ftpack(*command), f"{run_dir / 'metrics.json'}: damaged, not valid JSON", "--overwrite")
    (run_dir / "metrics.json").write_text(text)
    (run_dir / "chat_template.jinja").unlink()
    one_line_error(ftpack("export", run_dir, "--format", "adapter"), f"{run_dir} has no chat_template.jinja")
    missing = tmp_path / "nope"
    one_line_error(ftpack("modelfile", missing), f"run dir not found: {missing}")
    one_line_error(ftpack("register", missing, "--name", "x"), f"run dir not found: {missing}")
    one_line_error(ftpack("bench", run_dir, "--host", "localhost:99999"), "--host 'localhost:99999' is not an Ollama")


def test_register_and_bench_check_names_and_hosts_locally(tmp_path):
    one_line_error(ftpack("register", tmp_path, "--name", "x", "--tag", "bad tag"), "tag 'bad tag'")
    one_line_error(ftpack("register", tmp_path, "--name", "x", "--host", "localhost:abc"),
                   "--host 'localhost:abc' is not an Ollama address")


def test_debug_shows_the_traceback_and_exits_2_like_the_rest(tmp_path):
    run = ftpack("--debug", "modelfile", tmp_path / "nope")
    assert run.returncode == 2 and "Traceback" in run.stderr and "run dir not found" in run.stderr


def test_quantizer_log_is_one_summary_line(tiny_export, tmp_path, capfd):
    from ftpack.export import quantize

    run_dir, result = tiny_export
    quantize(Path(result["gguf_f16"]["path"]), tmp_path / "model-q4_k_m.gguf", "q4_k_m")
    out, err = capfd.readouterr()
    assert out.count("\n") == 1 and out.startswith("ftpack: quantized model-q4_k_m.gguf (q4_k_m); ") and not err
    assert "of 20 tensors fell back to other types" in out
