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

With train.soup_members K > 1, K runs of the recipe with K seeds are averaged into one adapter
(train_soup.py); each keeps its own run directory under RUN_DIR/members.

A run replacing a finished one (--overwrite) is trained beside it, in .RUN_NAME.next, and swapped
in only when it has finished; a failed start leaves nothing behind, a killed run its checkpoints.

Several GPUs: `accelerate launch -m ftpack train ...` (TRL backend) runs unchanged; the Trainer does
the distribution and only the main process writes files.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import resource
import time
from pathlib import Path
from typing import Any, Iterable

from ftpack import base_model as base_models
from ftpack.chat_format import end_of_turn_tokens, tokenize
from ftpack.config import TrainConfig
from ftpack.data.validate import load_chat_rows
from ftpack.errors import FtpackError
from ftpack.fsutil import atomic_path, read_json, read_text, write_text_atomic
from ftpack.machine import describe as describe_cpu
from ftpack.rundir import (close_run, discard_failed, load_run_config, open_run, plan_run, resumable,
                           update_metrics)
from ftpack.train_args import (ModelShape, check_trl_runs_here, evaluation_cadence, gpu_memory,
                               lora_inputs_left_to_autocast, loss_on_labelled_positions_only,
                               needs_activation_checkpointing, plan_batches, sft_arguments, supported_fields,
                               total_optimizer_steps)
from ftpack.train_monitor import loss_rows, monitors, plot_loss, write_loss_log
from ftpack.train_timing import PhaseClock, loop_timer

BACKENDS = ("auto", "unsloth", "trl")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
FEW_ROWS = 100  # below this, a fine-tune mostly memorizes: say so


# ------------------------------------------------------------------------------- choices
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
            # bf16 autocast where the CPU computes bf16 natively (1.75x faster per step on an
            # AVX512-BF16 EPYC, same losses); emulated on plain AVX2/AVX-512 it is far slower than fp32
            return "bf16" if native_cpu_bf16() else "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if requested == "fp16" and not cuda:
        raise FtpackError("fp16 training needs a CUDA GPU: use precision fp32 (or bf16) on CPU")
    return requested


def native_cpu_bf16() -> bool:
    from ftpack.machine import cpu_info

    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_info()["isa"]))


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
def load_trl(base_path: str, cfg: TrainConfig, precision: str, cuda: bool):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype, attn_implementation=attention_for(cuda))
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules, bias="none", task_type="CAUSAL_LM",
                      layers_to_transform=adapted_layers(cfg, model.config.to_dict()))
    try:
        model = get_peft_model(model, lora)
    except ValueError as exc:
        raise FtpackError(f"LoRA target modules {cfg.target_modules} do not fit this model "
                          f"({str(exc).splitlines()[0]}); its linear layers are: {', '.join(_linear_names(model))}") from None
    return model, tokenizer


def attention_for(cuda: bool) -> str:
    """SDPA's fused kernels on CUDA; on CPU, transformers' plain-matmul ("eager") attention.

    PyTorch's CPU flash-attention kernel spends more on its backward pass than a whole Task API row
    (~60 tokens) needs: 11 % of a bf16 step in the profile (bench/train_speedups.py measures the
    difference). With bf16 weights the two are equally far from an fp32 forward pass (SmolLM2 on 16
    validation rows: mean logit error 0.13 both, next-token argmax agreeing 98 % both).
    """
    return "sdpa" if cuda else "eager"


def load_unsloth(base_path: str, cfg: TrainConfig, precision: str):
    from unsloth import FastLanguageModel  # must come before transformers/trl for its patches

    import torch

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=base_path, max_seq_length=cfg.max_length, load_in_4bit=cfg.load_in_4bit,
        dtype={"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision])
    checkpointing = needs_activation_checkpointing(cfg, gpu_memory(), ModelShape.of(model))
    model = FastLanguageModel.get_peft_model(
        model, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules, bias="none",
        layers_to_transform=adapted_layers(cfg, model.config.to_dict()),
        use_gradient_checkpointing="unsloth" if checkpointing else False,
        random_state=cfg.seed)
    return model, tokenizer


def adapted_layers(cfg: TrainConfig, model_config: dict[str, Any]) -> list[int] | None:
    """The decoder layers LoRA adapts: None for all, else lora_first_layer up to the last.
    model_config: the base model's config.json as a dict; read only when some layers are left out."""
    if not cfg.lora_first_layer:
        return None
    count = (model_config.get("text_config") or model_config)["num_hidden_layers"]  # as ModelShape.of reads it
    if cfg.lora_first_layer >= count:
        raise FtpackError(f"train.lora_first_layer {cfg.lora_first_layer} leaves no layer to adapt: "
                          f"{cfg.base_model} has {count} decoder layers (0-{count - 1}); set it below {count}")
    return list(range(cfg.lora_first_layer, count))


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
    clock = PhaseClock()
    run_dir = Path(cfg.run_dir)
    checkpoint = None
    if resume:
        work_dir = resumable(run_dir) or run_dir  # a killed --overwrite run resumes in its staging folder
        cfg = load_run_config(work_dir)
        if cfg.soup_members == 1:  # a soup's members say this for themselves
            checkpoint = last_checkpoint(work_dir)
            print(f"ftpack: resuming {run_dir} from {checkpoint}" if checkpoint else
                  f"ftpack: {run_dir} has no checkpoint yet: training from the start", flush=True)
    else:
        check_inputs(cfg, overwrite)
    # Dataset errors surface before any model is loaded.
    load_chat_rows(cfg.train_file)
    if cfg.val_file:
        load_chat_rows(cfg.val_file)

    if cfg.soup_members > 1:
        from ftpack.train_soup import train_soup

        def run_in(folder: Path) -> dict[str, Any]:
            return train_soup(folder, cfg, extra_callbacks)
    else:
        backend = choose_backend(cfg.backend)
        if backend == "unsloth":
            import unsloth  # noqa: F401 - patches transformers/trl, so it must be imported first

        import torch

        cuda = torch.cuda.is_available()
        precision = choose_precision(cfg.precision, cuda)
        base = base_models.resolve(cfg.base_model)
        if cfg.lora_first_layer:  # said before the model loads, from its config.json
            adapted_layers(cfg, read_json(Path(base.path) / "config.json", "restore the base model"))

        def run_in(folder: Path) -> dict[str, Any]:
            return _train_in(folder, cfg, base, backend, cuda, precision, checkpoint, extra_callbacks, clock)
    if resume:
        return run_in(work_dir)
    pre_existing_empty = run_dir.is_dir() and not any(run_dir.iterdir())
    work_dir = open_run(run_dir, overwrite)
    try:
        return run_in(work_dir)
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
              precision: str, checkpoint: str | None, extra_callbacks: Iterable[Any],
              clock: PhaseClock) -> dict[str, Any]:
    """Train in work_dir (RUN_DIR, or the staging folder of a run replacing it) and swap it in at the end."""
    import torch

    run_dir = Path(cfg.run_dir)
    write_text_atomic(work_dir / "train_config.json", json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    write_text_atomic(work_dir / "base_model.json", base.to_json() + "\n")

    from transformers import set_seed

    set_seed(cfg.seed)
    if not cuda:
        torch.set_num_threads(max(1, torch.get_num_threads()))
    with clock.phase("load"):
        model, tokenizer = (load_unsloth(base.path, cfg, precision) if backend == "unsloth"
                            else load_trl(base.path, cfg, precision, cuda))
    if cfg.chat_template:
        tokenizer.chat_template = read_text(cfg.chat_template)
    if not tokenizer.chat_template:
        raise FtpackError(f"base model {cfg.base_model!r} has no chat template: pass --chat-template FILE.jinja")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    with clock.phase("tokenize"):
        train_rows, train_tokens = tokenize_file(tokenizer, cfg.train_file, cfg.max_length, "train")
        val_rows = tokenize_file(tokenizer, cfg.val_file, cfg.max_length, "val")[0] if cfg.val_file else []
    if len(train_rows) < FEW_ROWS:
        print(f"ftpack: warning: only {len(train_rows)} training row(s) in {cfg.train_file}: the model will "
              f"mostly memorize them; a fine-tune needs a few hundred or more", flush=True)
    trainable, total = model.get_nb_trainable_parameters()
    print(f"trainable params: {trainable:,} of {total:,} ({100 * trainable / total:.2f} %)", flush=True)

    memory = gpu_memory()
    plan = plan_batches(cfg, memory, ModelShape.of(model) if memory else None,
                        max(len(r["input_ids"]) for r in train_rows))
    print(f"ftpack: batches: {plan.reason}", flush=True)
    eval_steps, save_steps = evaluation_cadence(cfg, total_optimizer_steps(cfg, len(train_rows), plan))

    import datasets
    from trl import SFTConfig, SFTTrainer

    datasets.disable_progress_bars()

    args = SFTConfig(**sft_arguments(
        cfg, plan, output_dir=str(work_dir / "checkpoints"), cuda=cuda, precision=precision, backend=backend,
        eval_steps=eval_steps, save_steps=save_steps, has_val=bool(val_rows), fields=supported_fields(SFTConfig)))
    callbacks = monitors(work_dir, warnings := [])
    timer = loop_timer(adaptive_cadence=not (cfg.eval_steps or cfg.save_steps or cfg.early_stopping_patience))
    callbacks.append(timer)
    if cfg.early_stopping_patience and val_rows:
        from transformers import EarlyStoppingCallback

        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    with clock.phase("trainer_setup"):
        trainer = SFTTrainer(
            model=model, args=args, processing_class=tokenizer,
            train_dataset=datasets.Dataset.from_list(train_rows),
            eval_dataset=datasets.Dataset.from_list(val_rows) if val_rows else None,
            callbacks=[*callbacks, *extra_callbacks],
        )
    start_epoch = 0.0
    if checkpoint:
        start_epoch = json.loads((Path(checkpoint) / "trainer_state.json").read_text()).get("epoch", 0.0)
    check_trl_runs_here(cuda)
    started = time.perf_counter()
    try:
        with loss_on_labelled_positions_only(cuda), lora_inputs_left_to_autocast(trainer.model, precision, backend):
            trainer.train(resume_from_checkpoint=checkpoint)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise FtpackError(f"out of memory while training ({type(exc).__name__}): try a smaller "
                          f"train.batch_size (now {cfg.batch_size}; raise grad_accum to keep the effective batch), "
                          f"a shorter train.max_length (now {cfg.max_length}), or 4-bit QLoRA on a GPU "
                          "(--backend unsloth)") from None
    train_seconds = time.perf_counter() - started
    with clock.phase("eval"):
        final_val_loss = _final_val_loss(trainer) if val_rows else None

    if not trainer.is_world_process_zero():
        return {}
    with clock.phase("final_save"):
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
        "activation_checkpointing": plan.activation_checkpointing,
        "micro_batch": plan.micro_batch,
        "grad_accum": plan.grad_accum,
        "batch_plan": plan.reason,
        "eval_steps": eval_steps,
        "save_steps": save_steps,
        "cadence_stretched": timer.stretches,
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU: {describe_cpu()}",
        "base_model": base.name,
        "train_rows": len(train_rows),
        "train_tokens": train_tokens,  # per epoch, prompt and reply
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
    metrics["time"] = clock.report(timer.report())  # last: it includes writing the adapter
    update_metrics(work_dir, "train", metrics)
    close_run(work_dir, run_dir)
    return metrics

