import json
import subprocess
import sys

import pytest

from ftpack.chat_format import IGNORE_INDEX, end_of_turn_tokens, tokenize
from ftpack.config import TrainConfig
from ftpack.errors import FtpackError
from ftpack.train import choose_backend, train
from ftpack.train_monitor import overfitting, read_loss_rows
from models import tiny_config
from tests_helpers import CrashAfterSave

CONVERSATION = [
    {"role": "system", "content": "You are a Task API assistant. Today is 2026-11-21 (Saturday)."},
    {"role": "user", "content": "remind me to call the plumber tomorrow, urgent"},
    {"role": "assistant", "content": '{"action":"create_task","title":"Call the plumber","due_date":"tomorrow","priority":"high"}'},
    {"role": "user", "content": "and delete task 3"},
    {"role": "assistant", "content": '{"action":"delete_task","task_id":3}'},
]


def learned_spans(tokens):
    """Runs of consecutive learned positions."""
    spans, current = [], []
    for i, label in enumerate(tokens.labels):
        if label != IGNORE_INDEX:
            current.append(i)
        elif current:
            spans.append(current)
            current = []
    return spans + ([current] if current else [])


def check_mask(tokenizer, end_of_turn):
    tokens = tokenize(tokenizer, CONVERSATION)
    assert len(tokens.input_ids) == len(tokens.labels)
    # labels are the input ids where learned, -100 elsewhere: token by token
    for token_id, label in zip(tokens.input_ids, tokens.labels):
        assert label in (token_id, IGNORE_INDEX)
    spans = learned_spans(tokens)
    replies = [m["content"] for m in CONVERSATION if m["role"] == "assistant"]
    assert len(spans) == len(replies)
    for span, reply in zip(spans, replies):
        assert tokenizer.decode([tokens.input_ids[i] for i in span]) == reply + end_of_turn
    learned = {i for span in spans for i in span}
    unlearned = tokenizer.decode([t for i, t in enumerate(tokens.input_ids) if i not in learned])
    for message in CONVERSATION:  # every system and user token is masked
        if message["role"] != "assistant":
            assert message["content"] in unlearned
    # the prompt tokens equal the template's own rendering with the generation prompt
    prompt = tokenizer.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert tokens.input_ids[: len(prompt_ids)] == prompt_ids
    assert spans[0][0] == len(prompt_ids)


def test_assistant_only_mask_chatml(smollm2_tokenizer):
    check_mask(smollm2_tokenizer, "<|im_end|>")
    assert end_of_turn_tokens(smollm2_tokenizer) == ["<|im_end|>"]


def test_assistant_only_mask_llama3_style():
    from models import llama3_style_tokenizer

    tokenizer = llama3_style_tokenizer()
    check_mask(tokenizer, "<|eot_id|>")
    assert end_of_turn_tokens(tokenizer)[0] == "<|eot_id|>"


def test_template_that_rewrites_history_is_refused(smollm2_tokenizer):
    import copy

    tokenizer = copy.deepcopy(smollm2_tokenizer)
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} "
                               "(turn {{ loop.index }} of {{ messages|length }})\n{% endfor %}")
    with pytest.raises(FtpackError, match="incrementally"):
        tokenize(tokenizer, CONVERSATION)


def test_tiny_training_learns_and_writes_the_run(tiny_run):
    cfg, metrics = tiny_run
    from pathlib import Path

    run = Path(cfg.run_dir)
    from ftpack.train import native_cpu_bf16

    # auto precision on CPU: bf16 where the CPU computes it natively, else fp32
    assert metrics["backend"] == "trl" and metrics["precision"] == ("bf16" if native_cpu_bf16() else "fp32")
    assert metrics["activation_checkpointing"] is False  # on CPU it would only cost time
    assert metrics["steps"] == 8
    assert metrics["final_train_loss"] < metrics["first_train_loss"]
    assert metrics["val_loss"] is not None
    assert 0 < metrics["trainable_params"] < metrics["total_params"]
    for name in ("adapter/adapter_config.json", "adapter/adapter_model.safetensors", "adapter/tokenizer.json",
                 "chat_template.jinja", "loss.jsonl", "loss.csv", "loss.png", "metrics.json",
                 "train_config.json", "base_model.json"):
        assert (run / name).is_file(), name
    log = read_loss_rows(run)
    assert [r["step"] for r in log if "train_loss" in r] == list(range(1, 9))
    assert [r["step"] for r in log if "val_loss" in r] == [4, 8]
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((run / "metrics.json").read_text())["train"]["val_loss"] == metrics["val_loss"]
    assert "<|im_start|>" in (run / "chat_template.jinja").read_text()


def test_resume_continues_to_the_same_end(tiny_run, tiny_model, tiny_data, tmp_path):
    full_cfg, full = tiny_run
    cfg = tiny_config(tiny_model, tiny_data, tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, extra_callbacks=[CrashAfterSave(4)])
    assert not (tmp_path / "resumed" / "adapter").exists()  # nothing final half-written
    with pytest.raises(FtpackError, match="already exists"):
        train(cfg)
    resumed = train(TrainConfig(run_dir=cfg.run_dir), resume=True)
    assert resumed["resumed_from"].endswith("checkpoint-4")
    assert resumed["steps"] == full["steps"]

    def log_steps(run_dir):
        from pathlib import Path

        return [(r["step"], sorted(r)) for r in map(json.loads, (Path(run_dir) / "loss.jsonl").read_text().splitlines())]

    assert log_steps(cfg.run_dir) == log_steps(full_cfg.run_dir)


def test_long_rows_are_reported_not_cut(tiny_model, tiny_data, tmp_path, capsys):
    cfg = tiny_config(tiny_model, tiny_data, tmp_path / "short", max_length=60, max_steps=1, eval_steps=1)
    train(cfg)
    out = capsys.readouterr().out
    assert "longer than max_length=60 tokens and were left out" in out  # ~1 row in 4 is


def test_overfitting_warning_rule():
    rising = [{"loss": 1.0, "step": 1}, {"eval_loss": 0.5, "step": 1}, {"loss": 0.8, "step": 2},
              {"eval_loss": 0.6, "step": 2}, {"loss": 0.6, "step": 3}, {"eval_loss": 0.7, "step": 3}]
    assert overfitting(rising)
    assert not overfitting(rising[:4])
    falling = [dict(e, eval_loss=1 - e["step"] / 10) if "eval_loss" in e else e for e in rising]
    assert not overfitting(falling)


def test_backend_choice_on_cpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CPU-only behaviour")
    assert choose_backend("auto") == "trl"
    with pytest.raises(FtpackError, match="needs a CUDA GPU"):
        choose_backend("unsloth")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ftpack", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args, message", [
    (["--base-model", "./no/such/dir"], "base model './no/such/dir' not found"),
    (["--base-model", "someorg/not-a-model"], "the Hugging Face hub is unreachable"),
    (["--data", "missing.jsonl"], "train file not found: missing.jsonl"),
])
def test_bad_training_input_is_one_line(tiny_data, tmp_path, args, message):
    run = run_cli("train", "--data", str(tiny_data / "train.jsonl"), "--val", str(tiny_data / "val.jsonl"),
                  "--run-dir", str(tmp_path / "run"), *args)
    assert run.returncode == 2
    assert message in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_bad_rows_stop_training_before_loading_a_model(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    run = run_cli("train", "--data", str(bad), "--val", str(bad), "--run-dir", str(tmp_path / "run"))
    assert run.returncode == 2 and "line 1: conversation must end with an assistant message" in run.stderr


def test_sweep_tables_val_loss_and_writes_best(tiny_model, tiny_data, tmp_path):
    from ftpack.config import SweepConfig
    from ftpack.sweep import sweep

    cfg = tiny_config(tiny_model, tiny_data, tmp_path / "sweep", max_steps=2, eval_steps=2, save_steps=2)
    result = sweep(cfg, SweepConfig(learning_rates=[1e-3, 1e-2], lora_ranks=[4], epochs=[1.0]))
    assert [r["name"] for r in result["runs"]] == ["lr0.001-r4-e1", "lr0.01-r4-e1"]
    assert result["best"]["val_loss"] == min(r["val_loss"] for r in result["runs"])
    import yaml

    best = yaml.safe_load((tmp_path / "sweep" / "best.yaml").read_text())["train"]
    assert best["learning_rate"] == result["best"]["learning_rate"] and best["lora_alpha"] == 8
    assert "| run |" in result["table"]
    again = sweep(cfg, SweepConfig(learning_rates=[1e-3, 1e-2], lora_ranks=[4], epochs=[1.0]))
    assert again["best"]["name"] == result["best"]["name"]  # finished points are kept, not retrained


def test_lora_first_layer_adapts_only_the_layers_above(tiny_model, tiny_data, tmp_path):
    from safetensors import safe_open

    cfg = tiny_config(tiny_model, tiny_data, tmp_path / "upper", max_steps=2, eval_steps=2, lora_first_layer=1)
    metrics = train(cfg)
    adapter = tmp_path / "upper" / "adapter"
    with safe_open(adapter / "adapter_model.safetensors", "pt") as weights:
        layers = {key.split(".layers.")[1].split(".")[0] for key in weights.keys()}
    assert layers == {"1"}  # the tiny model has layers 0 and 1
    assert json.loads((adapter / "adapter_config.json").read_text())["layers_to_transform"] == [1]
    assert metrics["final_train_loss"] is not None

    run = run_cli("train", "--base-model", str(tiny_model), "--data", str(tiny_data / "train.jsonl"),
                  "--val", str(tiny_data / "val.jsonl"), "--run-dir", str(tmp_path / "none"), "--lora-first-layer", "2")
    assert run.returncode == 2
    assert "train.lora_first_layer 2 leaves no layer to adapt" in run.stderr and run.stderr.count("\n") == 1, run.stderr
    assert not (tmp_path / "none").exists()


def test_neftune_noise_reaches_the_training_steps(tiny_model, tiny_data, tmp_path):
    """The same rows, seed and starting weights: NEFTune's noise on the embeddings changes the loss from
    the first step on, and the run records the setting (what --resume continues with)."""
    noisy = train(tiny_config(tiny_model, tiny_data, tmp_path / "noisy", max_steps=2, eval_steps=2,
                              precision="fp32", neftune_noise_alpha=5.0))
    train(tiny_config(tiny_model, tiny_data, tmp_path / "clean", max_steps=2, eval_steps=2, precision="fp32"))
    first = [next(r["train_loss"] for r in read_loss_rows(tmp_path / run) if "train_loss" in r)
             for run in ("noisy", "clean")]
    assert first[0] != pytest.approx(first[1], rel=1e-4)
    assert json.loads((tmp_path / "noisy" / "train_config.json").read_text())["neftune_noise_alpha"] == 5.0
    assert noisy["final_train_loss"] is not None
