"""`ftpack ship` end to end on the tiny model: every stage, the spec gate, the stage cache, resume."""

import json
from pathlib import Path

import pytest

from ftpack.config import load_config
from ftpack.errors import FtpackError
from ftpack.ship import Ship, summary


def tiny_ship_config(tmp_path, tiny_model, ollama_url):
    return load_config(None, [
        f"data.out_dir={tmp_path / 'data'}", "data.n_train=32", "data.n_val=8", "data.n_test=6",
        f"train.train_file={tmp_path / 'data' / 'train.jsonl'}", f"train.val_file={tmp_path / 'data' / 'val.jsonl'}",
        f"train.base_model={tiny_model}", f"train.run_dir={tmp_path / 'runs' / 'tiny'}", "train.max_steps=8",
        "train.batch_size=4", "train.grad_accum=1", "train.learning_rate=0.01", "train.eval_steps=4", "train.save_steps=2",
        "ship.name=ftpack-test-ship", f"ship.host={ollama_url}", "ship.compare_f16=false", "ship.bench_limit=6",
    ])


@pytest.mark.ollama
def test_ship_end_to_end_then_noop_then_resume(tmp_path, tiny_model, ollama_url, monkeypatch):
    import ftpack.train as train_module
    from tests_helpers import CrashAfterSave

    cfg = tiny_ship_config(tmp_path, tiny_model, ollama_url)
    real_train = train_module.train
    calls = []

    def crashing_train(config, **kwargs):  # the first training is "killed" after checkpoint 4
        calls.append(kwargs)
        if len(calls) == 1:
            kwargs["extra_callbacks"] = [CrashAfterSave(4)]
        return real_train(config, **kwargs)

    monkeypatch.setattr(train_module, "train", crashing_train)
    with pytest.raises(KeyboardInterrupt):
        Ship(cfg).run()
    lines = []
    manifest = Ship(cfg, log=lines.append).run()
    assert calls[1] == {"resume": True}
    assert "[train] resuming" in "\n".join(lines)
    run_dir = tmp_path / "runs" / "tiny"
    assert json.loads((run_dir / "metrics.json").read_text())["train"]["steps"] == 8
    assert manifest["model"] == "ftpack-test-ship:candidate"
    assert manifest["spec_passed"] is False and manifest["promoted"] is None  # the tiny model stays a candidate
    for key in ("gguf", "gguf_f16", "merged", "adapter", "modelfile"):
        assert key in manifest["artefacts"]
    assert len(manifest["artefacts"]["gguf"]["sha256"]) == 64
    assert "torch" in manifest["packages"] and "bench" in manifest["metrics"]
    assert (run_dir / "run.json").is_file() and (run_dir / "bench" / "report.md").is_file()
    text = "\n".join(summary(manifest))
    assert "FAIL  task-creation accuracy > 0.9" in text and "ollama run ftpack-test-ship:candidate" in text
    assert "; as the client acts (" in text  # the model's figures, then what the client acts on

    lines = []
    rerun = Ship(cfg, log=lines.append).run()
    assert all("skipped" in line for line in lines if line.startswith("[")), lines
    assert len(calls) == 2  # no training on the no-op rerun
    # The manifest keeps what each stage took when it ran, and says that this run skipped it.
    assert rerun["stage_seconds"]["train"] == manifest["stage_seconds"]["train"] > 0
    assert set(rerun["skipped_stages"]) >= {"data", "train", "export", "bench"}
    assert "train" not in manifest["skipped_stages"]

    # New generator code (an upgrade, an edited vocabulary) regenerates the data; the same rows
    # come out here, so training, keyed by the data files' hashes, is still up to date.
    import ftpack.data.generate as generate_module

    monkeypatch.setattr(generate_module, "generator_fingerprint", lambda: "another generator")
    lines = []
    Ship(cfg, log=lines.append).run()
    assert "[data] running" in lines and "[train] up to date, skipped" in lines

    lines = []
    Ship(cfg, force_from="bench", log=lines.append).run()
    assert "[bench] running" in lines and "[export] up to date, skipped" in lines


def test_ship_without_ollama_benchmarks_in_llamacpp(tmp_path, tiny_model):
    cfg = tiny_ship_config(tmp_path, tiny_model, "127.0.0.1:9")  # nothing listens there
    lines = []
    manifest = Ship(cfg, log=lines.append).run()
    assert manifest["model"] is None and manifest["promoted"] is None
    assert any("registration skipped" in line and "ftpack register" in line for line in lines)
    assert manifest["metrics"]["bench"]["engine"] == "llama.cpp (embedded)"
    assert "no Ollama was reachable" in (Path(cfg.train.run_dir) / "bench" / "report.md").read_text()
    assert "register later: ftpack register" in "\n".join(summary(manifest))


def test_ship_rejects_an_unknown_quantization_before_any_stage(tmp_path, tiny_model):
    from ftpack.config import apply

    cfg = tiny_ship_config(tmp_path, tiny_model, "127.0.0.1:9")
    with pytest.raises(FtpackError, match="config ship.extra_quants: 'q9' is not valid: item 1: use one of q4_k_m"):
        apply(cfg, "ship.extra_quants", "q9")
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()
