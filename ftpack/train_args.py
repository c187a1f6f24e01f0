"""The trainer arguments for this device and these library versions (part of stage 2, `ftpack train`).

Three decisions live here, apart from the training loop in train.py:

* **Batching by the device.** The effective batch is `batch_size x grad_accum` (the recipe). On CPU
  it runs as given. On CUDA a 135M-parameter LoRA step of 4k tokens is milliseconds of GPU work, so
  many small micro-batches leave the GPU idle between kernel launches; the same effective batch runs
  as the fewest micro-batches whose activations fit a share of the GPU's memory (a token budget),
  and activation checkpointing is used only when even one row per micro-batch would not fit.
* **Version-proof arguments.** The `cuda` extra resolves to older TRL/transformers than the CPU
  install (Unsloth caps them), and the same setting has had different names (`activation_checkpointing`
  since transformers 5.18, `gradient_checkpointing` before; `train_sampling_strategy` since 5.x,
  `group_by_length` before). Each setting is passed under the name the installed SFTConfig has,
  found from its dataclass fields rather than from version numbers.
* **Loss only where there are labels.** On CPU, TRL's fused LM head is made to score only the
  labelled (reply) positions, as it does on GPUs: same loss, ~20 % less work per step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterator

from ftpack.config import TrainConfig
from ftpack.errors import FtpackError

# Share of the GPU memory left after the weights that activations of one micro-batch may take; the
# rest is for the optimizer state, the allocator's fragmentation and evaluation.
ACTIVATION_MEMORY_SHARE = 0.5
# Bytes of activations per token and layer per unit of hidden size, 16-bit, without recomputation
# (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models": 34 s b h
# per layer with a fused attention kernel); with recomputation only the layer inputs stay (2 s b h).
ACTIVATION_BYTES_PER_HIDDEN = 34
CHECKPOINTED_BYTES_PER_HIDDEN = 2
# Logits in fp32, their gradient and the 16-bit copy: 10 bytes per vocabulary entry per token.
LOGIT_BYTES_PER_VOCAB = 10


@dataclass(frozen=True)
class ModelShape:
    """What the activation estimate needs to know about a model."""

    layers: int
    hidden: int
    vocab: int
    parameter_bytes: int

    @classmethod
    def of(cls, model: Any) -> "ModelShape":
        config = model.config
        config = getattr(config, "text_config", None) or config
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        return cls(layers=config.num_hidden_layers, hidden=config.hidden_size, vocab=config.vocab_size,
                   parameter_bytes=weights)

    def activation_bytes_per_token(self, checkpointing: bool) -> int:
        per_hidden = CHECKPOINTED_BYTES_PER_HIDDEN if checkpointing else ACTIVATION_BYTES_PER_HIDDEN
        return self.layers * self.hidden * per_hidden + self.vocab * LOGIT_BYTES_PER_VOCAB


@dataclass(frozen=True)
class BatchPlan:
    micro_batch: int
    grad_accum: int
    eval_batch: int
    activation_checkpointing: bool
    token_budget: int | None  # tokens one micro-batch may hold on this GPU; None on CPU
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def activation_budget_tokens(gpu_memory_bytes: int, shape: ModelShape, checkpointing: bool) -> int:
    """Tokens one micro-batch may hold on this GPU."""
    free = max(0, gpu_memory_bytes - 4 * shape.parameter_bytes)  # weights, LoRA states, workspace
    return int(ACTIVATION_MEMORY_SHARE * free // shape.activation_bytes_per_token(checkpointing))


def needs_activation_checkpointing(cfg: TrainConfig, gpu_memory_bytes: int | None, shape: ModelShape | None) -> bool:
    """As configured, else: on CUDA only when one row of max_length would not fit without it; never on
    CPU, where activations are small and recomputing them only costs time (~18 % per step here)."""
    if cfg.activation_checkpointing is not None:
        return cfg.activation_checkpointing
    if gpu_memory_bytes is None or shape is None:
        return False
    return activation_budget_tokens(gpu_memory_bytes, shape, checkpointing=False) < cfg.max_length


def plan_batches(cfg: TrainConfig, gpu_memory_bytes: int | None, shape: ModelShape | None,
                 longest_row: int) -> BatchPlan:
    """How the effective batch runs here: micro-batch size, accumulation, activation checkpointing.

    gpu_memory_bytes is None on CPU. longest_row is the longest tokenized training row: batches are
    padded to their longest row, never to max_length.
    """
    checkpointing = needs_activation_checkpointing(cfg, gpu_memory_bytes, shape)
    if gpu_memory_bytes is None or shape is None:
        return BatchPlan(cfg.batch_size, cfg.grad_accum, cfg.batch_size, checkpointing, None,
                         "CPU: batch_size x grad_accum as configured")
    tokens = activation_budget_tokens(gpu_memory_bytes, shape, checkpointing)
    if not cfg.auto_micro_batch:
        return BatchPlan(cfg.batch_size, cfg.grad_accum, cfg.batch_size, checkpointing, tokens,
                         "CUDA: batch_size x grad_accum as configured (train.auto_micro_batch is off)")
    effective = cfg.batch_size * cfg.grad_accum
    fitting = [m for m in range(1, effective + 1) if effective % m == 0 and m * longest_row <= tokens]
    micro = max(fitting, default=1)
    return BatchPlan(micro, effective // micro, min(2 * micro, 64), checkpointing, tokens,
                     f"CUDA: effective batch {effective} as {effective // micro} x {micro} rows "
                     f"(token budget {tokens} per micro-batch, longest row {longest_row})")


def gpu_memory() -> int | None:
    """Total memory of the GPU training runs on, or None without CUDA."""
    import torch

    return torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else None


def supported_fields(config_class: type) -> set[str]:
    return {f.name for f in dataclasses.fields(config_class)}


def first_supported(fields: set[str], *names: str) -> str:
    """The first of several names for one setting that this SFTConfig knows."""
    for name in names:
        if name in fields:
            return name
    raise FtpackError(f"the installed TRL/transformers has none of the arguments {', '.join(names)}: "
                      "install the versions pyproject.toml names (pip install -e '.[cpu]')")


def sft_arguments(cfg: TrainConfig, plan: BatchPlan, *, output_dir: str, cuda: bool, precision: str,
                  backend: str, eval_steps: int, save_steps: int, has_val: bool,
                  fields: set[str]) -> dict[str, Any]:
    """Keyword arguments for SFTConfig, each under the name the installed version knows."""
    checkpointing = first_supported(fields, "activation_checkpointing", "gradient_checkpointing")
    sampling = first_supported(fields, "train_sampling_strategy", "group_by_length")
    if backend == "unsloth":
        optimizer = "adamw_8bit"  # bitsandbytes: what Unsloth's QLoRA recipe uses
    else:
        # Fused on CPU too (torch >= 2.4): the unfused step loops over 420 LoRA tensors, ~100 ms of a
        # ~1.3 s CPU step for r 64; fused it takes ~20-30 ms. Same update.
        optimizer = "adamw_torch_fused"
    return dict(
        output_dir=output_dir,
        per_device_train_batch_size=plan.micro_batch, per_device_eval_batch_size=plan.eval_batch,
        gradient_accumulation_steps=plan.grad_accum, learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is a ratio of the total steps
        weight_decay=cfg.weight_decay, lr_scheduler_type=cfg.lr_scheduler,
        neftune_noise_alpha=cfg.neftune_noise_alpha or None,
        logging_steps=cfg.logging_steps, logging_first_step=True,
        eval_strategy="steps" if has_val else "no", eval_steps=eval_steps,
        save_strategy="steps", save_steps=save_steps, save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=bool(cfg.early_stopping_patience and has_val),
        metric_for_best_model="eval_loss", greater_is_better=False,
        seed=cfg.seed, data_seed=cfg.seed, bf16=precision == "bf16", fp16=precision == "fp16",
        use_cpu=not cuda, optim=optimizer,
        max_length=cfg.max_length, packing=False, report_to="none", dataloader_num_workers=0,
        # A 135M model's step is too short for torch.compile's minutes of compilation to pay back: on
        # the 2-core AVX-512 EPYC, 263 s to compile the first step of the ship recipe and over 2 min again
        # at the next row length (length-grouped batches change it every step), against ~1 s a step.
        torch_compile=False,
        # TRL's own default is True: it must be stated either way.
        **{checkpointing: plan.activation_checkpointing},
        # Batches of similar lengths waste less compute on padding (~20 % here on CPU).
        **{sampling: "group_by_length" if sampling == "train_sampling_strategy" else True},
    )


def evaluation_cadence(cfg: TrainConfig, total_steps: int) -> tuple[int, int]:
    """(eval_steps, save_steps): about six evaluations per run unless configured; a checkpoint at each."""
    eval_steps = cfg.eval_steps or max(1, round(total_steps / 6))
    save_steps = cfg.save_steps or eval_steps
    if cfg.early_stopping_patience and save_steps % eval_steps:
        raise FtpackError(f"early stopping needs save_steps ({save_steps}) to be a multiple of eval_steps ({eval_steps})")
    return eval_steps, save_steps


def total_optimizer_steps(cfg: TrainConfig, rows: int, plan: BatchPlan) -> int:
    steps_per_epoch = math.ceil(math.ceil(rows / plan.micro_batch) / plan.grad_accum)
    return cfg.max_steps if cfg.max_steps > 0 else math.ceil(steps_per_epoch * cfg.epochs)


def check_trl_runs_here(cuda: bool) -> None:
    """TRL up to 1.15 (what the cuda extra gets) computes the SFT loss only with a Triton kernel.

    Called with the trainer built, so that a CPU machine still validates every argument of the GPU
    configuration (CI does, under the cuda extra's versions) before it says it cannot go on.
    """
    if cuda:
        return
    try:
        import trl.kernels  # noqa: F401 - from 1.16 on it imports, and runs, without Triton
    except ImportError as exc:
        import trl

        raise FtpackError(f"TRL {trl.__version__} trains only on a GPU (its loss kernel needs Triton: {exc}); "
                          "on CPU install the cpu extra, with trl>=1.16: pip install -e '.[cpu]'") from None


@contextlib.contextmanager
def loss_on_labelled_positions_only(cuda: bool) -> Iterator[None]:
    """Score only the positions that carry a label in TRL's fused LM head, on CPU too.

    TRL (>= 1.16) projects hidden states onto the vocabulary in chunks and, on devices with Triton,
    only at labelled positions; elsewhere it scores every position, so that compiled tile shapes
    stay fixed on accelerators such as Neuron. A CPU compiles nothing, and a Task API row labels only
    its reply (~40 % of the tokens), so scoring every position spends a quarter of a CPU step on
    prompt and padding positions whose loss is masked to zero anyway. Same loss, same gradient.
    `trl.trainer.utils._use_triton` decides only that compaction there (the kernel module keeps its
    own binding, so the folds still run in torch ops); without it this does nothing.
    """
    try:
        from trl.trainer import utils as trl_utils
    except ImportError:
        trl_utils = None
    original = getattr(trl_utils, "_use_triton", None)
    if cuda or original is None or not hasattr(trl_utils, "add_fused_lm_head"):
        yield
        return
    trl_utils._use_triton = lambda device: device.type == "cpu" or original(device)
    try:
        yield
    finally:
        trl_utils._use_triton = original


@contextlib.contextmanager
def lora_inputs_left_to_autocast(model: Any, precision: str, backend: str) -> Iterator[None]:
    """Let autocast alone choose the dtype of LoRA's inputs when training in bf16/fp16 with TRL.

    PEFT keeps adapter weights in fp32 and casts each LoRA layer's 16-bit input up to fp32, which
    autocast then casts back down for the matmul: two copies of the activations in each of the 210
    adapted layers, for the same 16-bit product. Skipping the first cast leaves the numbers unchanged
    (a 16-bit value survives the round trip exactly); bench/train_speedups.py measures the time it
    saves. In fp32 there is nothing to cast; Unsloth handles its own dtypes.
    """
    if precision == "fp32" or backend != "trl":
        yield
        return
    from peft.helpers import disable_input_dtype_casting

    with disable_input_dtype_casting(model):
        yield
