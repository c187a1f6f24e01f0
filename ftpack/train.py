"""Stage 2: LoRA supervised fine-tuning with assistant-only loss.

Backends: Unsloth FastLanguageModel (QLoRA 4-bit through bitsandbytes) when CUDA and unsloth are
present, else TRL's SFTTrainer with a PEFT LoRA model. Both get the same tokenized data (from
ftpack.chat_format), the same SFTConfig and write the same run directory:

  RUN_DIR/.ftpack-run         the marker: ftpack made this folder and may replace it (rundir.py)
  RUN_DIR/train_config.json   the TrainConfig used (what --resume continues with)
  RUN_DIR/base_model.json     the resolved base model (name, local path, source, license)
  RUN_DIR/checkpoints/        Trainer checkpoints (every save_steps, keep save_total_limit)
  RUN_DIR/adapter/            the final LoRA adapter and tokenizer
  RUN_DIR/chat_template.jinja the exact template used in training
  RUN_DIR/loss.jsonl, loss.csv, loss.png   train and val loss per logging step / evaluation
  RUN_DIR/metrics.json        {"train": {...}}: final val loss, throughput, trainable params, ...

A run replacing a finished one (--overwrite) is trained beside it, in .RUN_NAME.next, and swapped
in only when it has finished; a failed start leaves nothing behind, a killed run its checkpoints.

Several GPUs: `accelerate launch -m ftpack train ...` (TRL backend) runs unchanged; the Trainer does
the distribution and only the main process writes files.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import resource
import time
from pathlib import Path
from typing import Any, Iterable

from ftpack import base_model as base_models
from ftpack.chat_format import end_of_turn_tokens, tokenize
from ftpack.config import TrainConfig
from ftpack.data.validate import load_chat_rows
from ftpack.errors import FtpackError
from ftpack.fsutil import atomic_path, read_text, write_text_atomic
from ftpack.rundir import (close_run, discard_failed, load_run_config, open_run, plan_run, resumable,
                           update_metrics)
from ftpack.train_monitor import loss_rows, monitors, plot_loss, write_loss_log

BACKENDS = ("auto", "unsloth", "trl")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
FEW_ROWS = 100  # below this, a fine-tune mostly memorizes: say so


# ------------------------------------------------------------------------------- choices
def uses_activation_checkpointing(cfg: TrainConfig, cuda: bool) -> bool:
    """On with CUDA, where it lets big models fit; off on CPU, where it only costs time."""
    return cuda if cfg.activation_checkpointing is None else cfg.activation_checkpointing


def choose_backend(requested: str) -> str:
    import torch

    cuda = torch.cuda.is_available()
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    if requested == "auto":
        return "unsloth" if cuda and has_unsloth else "trl"
    if requested == "unsloth":
        if not cuda:
            raise FtpackError("--backend unsloth needs a CUDA GPU; none is visible (use --backend trl or auto)")
        if not has_unsloth:
            raise FtpackError("--backend unsloth needs unsloth and bitsandbytes: pip install -e '.[cuda]'")
        return "unsloth"
    if requested == "trl":
        return "trl"
    raise FtpackError(f"unknown backend {requested!r}: use one of {', '.join(BACKENDS)}")


def choose_precision(requested: str, cuda: bool) -> str:
    import torch

    if requested not in PRECISIONS:
        raise FtpackError(f"unknown precision {requested!r}: use one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if requested == "fp16" and not cuda:
        raise FtpackError("fp16 training needs a CUDA GPU: use precision fp32 (or bf16) on CPU")
    return requested


# ------------------------------------------------------------------------------- data
def tokenize_file(tokenizer: Any, path: str, max_length: int, what: str) -> tuple[list[dict], int]:
    """Tokenized rows that fit max_length; too-long rows are reported and left out, never cut."""
    rows, too_long = [], []
    for lineno, messages in enumerate(load_chat_rows(path), 1):
        tokens = tokenize(tokenizer, messages)
        if len(tokens.input_ids) > max_length:
            too_long.append(lineno)
            continue
        rows.append({"input_ids": tokens.input_ids, "labels": tokens.labels})
    if too_long:
        lines = ", ".join(map(str, too_long[:10])) + (" ..." if len(too_long) > 10 else "")
        print(f"ftpack: {len(too_long)} of {len(too_long) + len(rows)} {what} rows are longer than "
              f"max_length={max_length} tokens and were left out (rows {lines}); raise train.max_length "
              "to keep them", flush=True)
    if not rows:
        raise FtpackError(f"{path}: every row is longer than max_length={max_length}: raise train.max_length")
    return rows, sum(len(r["input_ids"]) for r in rows)


# ------------------------------------------------------------------------------- loading
def load_trl(base_path: str, cfg: TrainConfig, precision: str):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules, bias="none", task_type="CAUSAL_LM")
    try:
        model = get_peft_model(model, lora)
    except ValueError as exc:
        raise FtpackError(f"LoRA target modules {cfg.target_modules} do not fit this model "
                          f"({str(exc).splitlines()[0]}); its linear layers are: {', '.join(_linear_names(model))}") from None
    return model, tokenizer


def load_unsloth(base_path: str, cfg: TrainConfig, precision: str):
    from unsloth import FastLanguageModel  # must come before transformers/trl for its patches

    import torch

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=base_path, max_seq_length=cfg.max_length, load_in_4bit=cfg.load_in_4bit,
        dtype={"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision])
    model = FastLanguageModel.get_peft_model(
        model, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules, bias="none",
        use_gradient_checkpointing="unsloth" if uses_activation_checkpointing(cfg, cuda=True) else False,
        random_state=cfg.seed)
    return model, tokenizer


def _linear_names(model: Any) -> list[str]:
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear)})


# ------------------------------------------------------------------------------- training
def last_checkpoint(run_dir: Path) -> str | None:
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(folder))


def _final_val_loss(trainer: Any) -> float:
    """Val loss of the model being saved, evaluating only if the last evaluation is stale."""
    if trainer.args.load_best_model_at_end and trainer.state.best_metric is not None:
        return trainer.state.best_metric
    evals = [e for e in trainer.state.log_history if "eval_loss" in e]
    if evals and evals[-1]["step"] == trainer.state.global_step:
        return evals[-1]["eval_loss"]
    return trainer.evaluate()["eval_loss"]


def train(cfg: TrainConfig, *, overwrite: bool = False, resume: bool = False,
          extra_callbacks: Iterable[Any] = ()) -> dict[str, Any]:
    """Run LoRA SFT as configured; returns the metrics written to RUN_DIR/metrics.json["train"]."""
    run_dir = Path(cfg.run_dir)
    checkpoint = None
    if resume:
        work_dir = resumable(run_dir) or run_dir  # a killed --overwrite run resumes in its staging folder
        cfg = load_run_config(work_dir)
        checkpoint = last_checkpoint(work_dir)
        print(f"ftpack: resuming {run_dir} from {checkpoint}" if checkpoint else
              f"ftpack: {run_dir} has no checkpoint yet: training from the start", flush=True)
    else:
        check_inputs(cfg, overwrite)
    # Dataset errors surface before any model is loaded.
    load_chat_rows(cfg.train_file)
    if cfg.val_file:
        load_chat_rows(cfg.val_file)

    backend = choose_backend(cfg.backend)
    if backend == "unsloth":
        import unsloth  # noqa: F401 - patches transformers/trl, so it must be imported first

    import torch

    cuda = torch.cuda.is_available()
    precision = choose_precision(cfg.precision, cuda)
    base = base_models.resolve(cfg.base_model)
    if resume:
        return _train_in(work_dir, cfg, base, backend, cuda, precision, checkpoint, extra_callbacks)
    pre_existing_empty = run_dir.is_dir() and not any(run_dir.iterdir())
    work_dir = open_run(run_dir, overwrite)
    try:
        return _train_in(work_dir, cfg, base, backend, cuda, precision, None, extra_callbacks)
    except BaseException:
        discard_failed(work_dir, keep_folder=pre_existing_empty and work_dir == run_dir)
        raise


def check_inputs(cfg: TrainConfig, overwrite: bool) -> None:
    """Everything a new run needs that can be checked without loading a model."""
    plan_run(cfg.run_dir, overwrite)
    for name, path in (("train", cfg.train_file), ("val", cfg.val_file)):
        if path and not Path(path).is_file():
            raise FtpackError(f"{name} file not found: {path} (make it with `ftpack data generate`)")
    if cfg.chat_template:
        read_text(cfg.chat_template)  # missing or not UTF-8: said now, not after loading the model
    base_models.check(cfg.base_model)


def _train_in(work_dir: Path, cfg: TrainConfig, base: base_models.BaseModel, backend: str, cuda: bool,
              precision: str, checkpoint: str | None, extra_callbacks: Iterable[Any]) -> dict[str, Any]:
    """Train in work_dir (RUN_DIR, or the staging folder of a run replacing it) and swap it in at the end."""
    import torch

    run_dir = Path(cfg.run_dir)
    write_text_atomic(work_dir / "train_config.json", json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    write_text_atomic(work_dir / "base_model.json", base.to_json() + "\n")

    from transformers import set_seed

    set_seed(cfg.seed)
    if not cuda:
        torch.set_num_threads(max(1, torch.get_num_threads()))
    model, tokenizer = (load_unsloth if backend == "unsloth" else load_trl)(base.path, cfg, precision)
    if cfg.chat_template:
        tokenizer.chat_template = read_text(cfg.chat_template)
    if not tokenizer.chat_template:
        raise FtpackError(f"base model {cfg.base_model!r} has no chat template: pass --chat-template FILE.jinja")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    train_rows, train_tokens = tokenize_file(tokenizer, cfg.train_file, cfg.max_length, "train")
    val_rows = tokenize_file(tokenizer, cfg.val_file, cfg.max_length, "val")[0] if cfg.val_file else []
    if len(train_rows) < FEW_ROWS:
        print(f"ftpack: warning: only {len(train_rows)} training row(s) in {cfg.train_file}: the model will "
              f"mostly memorize them; a fine-tune needs a few hundred or more", flush=True)
    trainable, total = model.get_nb_trainable_parameters()
    print(f"trainable params: {trainable:,} of {total:,} ({100 * trainable / total:.2f} %)", flush=True)

    steps_per_epoch = math.ceil(math.ceil(len(train_rows) / cfg.batch_size) / cfg.grad_accum)
    total_steps = cfg.max_steps if cfg.max_steps > 0 else math.ceil(steps_per_epoch * cfg.epochs)
    eval_steps = cfg.eval_steps or max(1, round(total_steps / 6))
    save_steps = cfg.save_steps or eval_steps
    if cfg.early_stopping_patience and save_steps % eval_steps:
        raise FtpackError(f"early stopping needs save_steps ({save_steps}) to be a multiple of eval_steps ({eval_steps})")

    checkpointing = uses_activation_checkpointing(cfg, cuda)

    import datasets
    from trl import SFTConfig, SFTTrainer

    datasets.disable_progress_bars()

    args = SFTConfig(
        output_dir=str(work_dir / "checkpoints"),
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay, lr_scheduler_type=cfg.lr_scheduler,
        logging_steps=cfg.logging_steps, logging_first_step=True,
        eval_strategy="steps" if val_rows else "no", eval_steps=eval_steps,
        save_strategy="steps", save_steps=save_steps, save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=bool(cfg.early_stopping_patience and val_rows),
        metric_for_best_model="eval_loss", greater_is_better=False,
        seed=cfg.seed, data_seed=cfg.seed, bf16=precision == "bf16", fp16=precision == "fp16",
        use_cpu=not cuda, optim="adamw_8bit" if backend == "unsloth" else "adamw_torch",
        max_length=cfg.max_length, packing=False, report_to="none", dataloader_num_workers=0,
        activation_checkpointing=checkpointing,
        # Batches of similar lengths waste less compute on padding (~20 % here on CPU).
        train_sampling_strategy="group_by_length",
    )
    callbacks = monitors(work_dir, warnings := [])
    if cfg.early_stopping_patience and val_rows:
        from transformers import EarlyStoppingCallback

        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = SFTTrainer(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=datasets.Dataset.from_list(train_rows),
        eval_dataset=datasets.Dataset.from_list(val_rows) if val_rows else None,
        callbacks=[*callbacks, *extra_callbacks],
    )
    start_epoch = 0.0
    if checkpoint:
        start_epoch = json.loads((Path(checkpoint) / "trainer_state.json").read_text()).get("epoch", 0.0)
    started = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=checkpoint)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise FtpackError(f"out of memory while training ({type(exc).__name__}): try a smaller "
                          f"train.batch_size (now {cfg.batch_size}; raise grad_accum to keep the effective batch), "
                          f"a shorter train.max_length (now {cfg.max_length}), or 4-bit QLoRA on a GPU "
                          "(--backend unsloth)") from None
    train_seconds = time.perf_counter() - started
    final_val_loss = _final_val_loss(trainer) if val_rows else None

    if not trainer.is_world_process_zero():
        return {}
    with atomic_path(work_dir / "adapter") as tmp:
        trainer.model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    write_text_atomic(work_dir / "chat_template.jinja", tokenizer.chat_template)
    write_loss_log(work_dir, trainer.state.log_history)
    plot_loss(work_dir, trainer.state.log_history)
    train_losses = [r["train_loss"] for r in loss_rows(trainer.state.log_history) if "train_loss" in r]
    epochs_done = trainer.state.epoch or 0.0
    metrics = {
        "backend": backend,
        "precision": precision,
        "activation_checkpointing": checkpointing,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "base_model": base.name,
        "train_rows": len(train_rows),
        "val_rows": len(val_rows),
        "steps": trainer.state.global_step,
        "epochs": round(epochs_done, 4),
        "first_train_loss": train_losses[0] if train_losses else None,
        "final_train_loss": train_losses[-1] if train_losses else None,
        "val_loss": final_val_loss,
        "trainable_params": trainable,
        "total_params": total,
        "train_seconds": round(train_seconds, 1),
        "tokens_per_second": round(train_tokens * (epochs_done - start_epoch) / train_seconds, 1)
        if train_seconds > 0 else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "stop_tokens": end_of_turn_tokens(tokenizer),
        "resumed_from": checkpoint,
        "warnings": warnings,
    }
    update_metrics(work_dir, "train", metrics)
    close_run(work_dir, run_dir)
    return metrics
