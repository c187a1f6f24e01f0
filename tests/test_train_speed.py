"""Device-sized batching, version-proof trainer arguments, and the time breakdown of a real run."""

import contextlib
import dataclasses
import json
from pathlib import Path

import pytest

from ftpack.config import TrainConfig
from ftpack.errors import FtpackError
from ftpack.train import train
from ftpack.train_args import BatchPlan, ModelShape, first_supported, plan_batches, sft_arguments, supported_fields
from ftpack.train_monitor import read_loss_rows
from models import tiny_config

GiB = 2**30
# SmolLM2-135M in fp16: 30 layers, hidden 576, vocabulary 49152
SMOLLM2 = ModelShape(layers=30, hidden=576, vocab=49152, parameter_bytes=270_000_000)
# A 7B Llama in 4 bits
LLAMA_7B = ModelShape(layers=32, hidden=4096, vocab=32000, parameter_bytes=3_800_000_000)
RECIPE = TrainConfig()  # batch 4 x accumulation 4, max_length 256


def test_cpu_runs_the_batches_as_configured():
    plan = plan_batches(RECIPE, None, None, longest_row=200)
    assert (plan.micro_batch, plan.grad_accum, plan.activation_checkpointing) == (4, 4, False)


def test_a_t4_runs_the_recipe_as_one_micro_batch_without_recomputation():
    plan = plan_batches(RECIPE, 15 * GiB, SMOLLM2, longest_row=200)
    assert (plan.micro_batch, plan.grad_accum) == (16, 1)  # same effective batch, one launch per step
    assert plan.activation_checkpointing is False and plan.token_budget >= 16 * 200


def test_a_small_gpu_keeps_the_effective_batch_in_more_micro_batches():
    plan = plan_batches(dataclasses.replace(RECIPE, max_length=2048), 16 * GiB, LLAMA_7B, longest_row=2048)
    assert plan.micro_batch * plan.grad_accum == 16 and plan.micro_batch < 16
    assert plan.micro_batch * 2048 <= plan.token_budget or plan.micro_batch == 1


def test_checkpointing_only_when_one_row_would_not_fit():
    tight = plan_batches(dataclasses.replace(RECIPE, max_length=4096), 6 * GiB, LLAMA_7B, longest_row=4096)
    assert tight.activation_checkpointing is True
    forced = plan_batches(dataclasses.replace(RECIPE, activation_checkpointing=True), 80 * GiB, SMOLLM2, 200)
    assert forced.activation_checkpointing is True  # the user's setting wins


def test_auto_micro_batch_off_keeps_the_configured_batches():
    plan = plan_batches(dataclasses.replace(RECIPE, auto_micro_batch=False), 80 * GiB, SMOLLM2, 200)
    assert (plan.micro_batch, plan.grad_accum) == (4, 4)


def test_arguments_use_the_names_the_installed_version_has():
    from trl import SFTConfig

    plan = BatchPlan(16, 1, 32, False, 4096, "test")
    common = dict(output_dir="out", cuda=False, precision="fp32", backend="trl", eval_steps=5, save_steps=5,
                  has_val=True)
    old = sft_arguments(RECIPE, plan, fields={"gradient_checkpointing", "group_by_length"}, **common)
    assert old["gradient_checkpointing"] is False and old["group_by_length"] is True
    assert "activation_checkpointing" not in old and "train_sampling_strategy" not in old
    new = sft_arguments(RECIPE, plan, fields={"activation_checkpointing", "gradient_checkpointing",
                                              "train_sampling_strategy"}, **common)
    assert new["activation_checkpointing"] is False and new["train_sampling_strategy"] == "group_by_length"
    assert "gradient_checkpointing" not in new
    fields = supported_fields(SFTConfig)  # the installed version accepts every argument
    args = SFTConfig(**sft_arguments(RECIPE, plan, fields=fields, **common))
    assert args.per_device_train_batch_size == 16 and args.gradient_accumulation_steps == 1
    assert args.optim == "adamw_torch_fused"  # on CPU too: the installed torch accepts it there
    with pytest.raises(FtpackError, match="none of the arguments"):
        first_supported(set(), "activation_checkpointing", "gradient_checkpointing")


def test_time_breakdown_and_cheap_evaluation_cadence(tiny_model, tiny_data, tmp_path):
    # eval_steps/save_steps 0: automatic, every 2 of 12 steps at first. A tiny model's steps take
    # milliseconds and a checkpoint takes longer, so the governor must stretch the intervals.
    cfg = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=12, eval_steps=0, save_steps=0)
    metrics = train(cfg)
    time = metrics["time"]
    for phase in ("load", "tokenize", "trainer_setup", "first_step", "steps", "eval", "save", "final_save", "total"):
        assert time[phase] > 0, phase
    parts = sum(time[p] for p in ("load", "tokenize", "trainer_setup", "first_step", "steps", "eval", "save",
                                  "loop_other", "final_save"))
    assert parts <= time["total"] and time["warmup"] <= time["first_step"]
    assert json.loads((Path(cfg.run_dir) / "metrics.json").read_text())["train"]["time"] == time
    assert metrics["eval_steps"] == 2 and metrics["cadence_stretched"]
    assert metrics["cadence_stretched"][0]["eval_steps"] == 4
    log = read_loss_rows(Path(cfg.run_dir))
    evaluated = [r["step"] for r in log if "val_loss" in r]
    assert len(evaluated) < 6 and evaluated[-1] == 12  # fewer evaluations, and always the last step
    assert metrics["micro_batch"] == 4 and metrics["grad_accum"] == 1 and "CPU" in metrics["batch_plan"]


def test_explicit_cadence_is_kept(tiny_run):
    _, metrics = tiny_run  # eval_steps 4, save_steps 2 in tiny_config
    assert metrics["cadence_stretched"] == [] and metrics["eval_steps"] == 4 and metrics["save_steps"] == 2


def test_scoring_only_labelled_positions_on_cpu_changes_no_loss(tiny_model, tiny_data, tmp_path, monkeypatch):
    """The CPU compaction of TRL's fused LM head is active in training and gives the very same losses."""
    import torch
    from trl.trainer import utils as trl_utils

    import ftpack.train as train_module

    seen = []
    original = train_module.loss_on_labelled_positions_only

    @contextlib.contextmanager
    def spy(cuda):
        with original(cuda):
            seen.append(trl_utils._use_triton(torch.device("cpu")))
            yield

    monkeypatch.setattr(train_module, "loss_on_labelled_positions_only", spy)
    train(tiny_config(tiny_model, tiny_data, tmp_path / "compact", max_steps=4, precision="fp32"))
    monkeypatch.setattr(train_module, "loss_on_labelled_positions_only", lambda cuda: contextlib.nullcontext())
    train(tiny_config(tiny_model, tiny_data, tmp_path / "full", max_steps=4, precision="fp32"))
    assert seen == [True] and not trl_utils._use_triton(torch.device("cpu"))  # restored after
    _assert_same_losses(tmp_path / "compact", tmp_path / "full", rel=1e-5)


def _assert_same_losses(a_run, b_run, rel):
    a, b = read_loss_rows(a_run), read_loss_rows(b_run)
    assert len(a) == len(b) > 4
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in ("train_loss", "val_loss"):
            if key in x:
                assert x[key] == pytest.approx(y[key], rel=rel), (key, x["step"])


def test_cpu_attention_is_plain_matmuls_with_the_same_losses_as_sdpa(tiny_model, tiny_data, tmp_path, monkeypatch):
    """Eager attention on CPU (faster for short rows) masks padding exactly as SDPA does."""
    import ftpack.train as train_module

    assert train_module.attention_for(cuda=False) == "eager" and train_module.attention_for(cuda=True) == "sdpa"
    seen = []
    original_load = train_module.load_trl

    def spying_load(*args):
        model, tokenizer = original_load(*args)
        seen.append(model.config._attn_implementation)
        return model, tokenizer

    monkeypatch.setattr(train_module, "load_trl", spying_load)
    train(tiny_config(tiny_model, tiny_data, tmp_path / "eager", max_steps=4, precision="fp32"))
    monkeypatch.setattr(train_module, "attention_for", lambda cuda: "sdpa")
    train(tiny_config(tiny_model, tiny_data, tmp_path / "sdpa", max_steps=4, precision="fp32"))
    assert seen == ["eager", "sdpa"]
    _assert_same_losses(tmp_path / "eager", tmp_path / "sdpa", rel=1e-4)


def test_lora_inputs_left_to_autocast_change_no_loss(tiny_model, tiny_data, tmp_path, monkeypatch):
    """In bf16, skipping PEFT's up-cast of LoRA inputs (autocast casts them back) trains identically."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    import ftpack.train as train_module

    seen = []
    original = train_module.lora_inputs_left_to_autocast

    @contextlib.contextmanager
    def spy(model, precision, backend):
        with original(model, precision, backend):
            seen.append({m.cast_input_dtype_enabled for m in model.modules() if isinstance(m, BaseTunerLayer)})
            yield

    monkeypatch.setattr(train_module, "lora_inputs_left_to_autocast", spy)
    train(tiny_config(tiny_model, tiny_data, tmp_path / "left", max_steps=4, precision="bf16"))
    monkeypatch.setattr(train_module, "lora_inputs_left_to_autocast", lambda *args: contextlib.nullcontext())
    train(tiny_config(tiny_model, tiny_data, tmp_path / "cast", max_steps=4, precision="bf16"))
    assert seen == [{False}]
    _assert_same_losses(tmp_path / "left", tmp_path / "cast", rel=1e-3)
