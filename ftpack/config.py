"""One typed configuration for every stage: dataclasses, loaded from YAML, overridden from the CLI.

    data:
      seed: 7
      n_train: 500

Precedence: defaults < YAML file (--config) < `--set section.key=value` < a command's own flags.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ftpack.errors import FtpackError


@dataclass
class DataConfig:
    """Stage 1: the Task API dataset."""

    seed: int = 7
    out_dir: str = "data/taskapi"
    n_train: int = 500
    n_val: int = 100
    n_test: int = 150


LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainConfig:
    """Stage 2: LoRA SFT. Defaults follow the capstone spec (effective batch 16, r 16, 3 epochs)."""

    base_model: str = "smollm2-135m-instruct"
    train_file: str = "data/taskapi/train.jsonl"
    val_file: str = "data/taskapi/val.jsonl"
    run_dir: str = "runs/taskapi"
    backend: str = "auto"  # auto | unsloth | trl
    chat_template: str | None = None  # a .jinja file replacing the base model's template
    learning_rate: float = 2e-4
    epochs: float = 3.0
    max_steps: int = -1  # > 0 stops after this many optimizer steps
    batch_size: int = 4
    grad_accum: int = 4
    warmup_ratio: float = 0.03
    weight_decay: float = 0.01
    lr_scheduler: str = "linear"
    lora_r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    max_length: int = 256
    load_in_4bit: bool = True  # QLoRA; Unsloth backend only
    precision: str = "auto"  # auto (bf16 > fp16 on CUDA, fp32 on CPU) | fp32 | fp16 | bf16
    # Recompute activations in the backward pass: None = on CUDA only when a row of max_length would
    # not fit the GPU without it (ftpack/train_args.py), off on CPU, where it only costs time.
    activation_checkpointing: bool | None = None
    # On CUDA, run the effective batch (batch_size x grad_accum) as the fewest micro-batches that fit
    # the GPU's memory; false: batch_size and grad_accum as given. No effect on CPU.
    auto_micro_batch: bool = True
    seed: int = 42
    logging_steps: int = 5
    eval_steps: int = 0  # 0: about six evaluations per run
    save_steps: int = 0  # 0: a checkpoint at every evaluation
    save_total_limit: int = 2
    early_stopping_patience: int = 0  # 0: off; N: stop after N evaluations without improvement


@dataclass
class SweepConfig:
    """`ftpack sweep`: a grid over these values, everything else from `train`."""

    learning_rates: list[float] = field(default_factory=lambda: [1e-4, 2e-4, 4e-4])
    lora_ranks: list[int] = field(default_factory=lambda: [8, 16])
    epochs: list[float] = field(default_factory=lambda: [3.0])


@dataclass
class ShipConfig:
    """`ftpack ship`: the whole pipeline; data and training come from their own sections."""

    name: str = "taskapi"  # the Ollama model: NAME:candidate, promoted to NAME:latest on a pass
    quant: str = "q4_k_m"  # the GGUF that is registered and benchmarked
    extra_quants: list[str] = field(default_factory=list)  # also exported, e.g. q4_k_m beside a served q4_0
    structured: bool = False  # benchmark with the JSON Schema as Ollama's `format`
    compare_f16: bool = True  # benchmark the f16 GGUF too (quantization cost)
    bench_limit: int = 0  # 0: every test case
    spec: str | None = None  # YAML spec file; default: the capstone spec
    host: str | None = None  # Ollama address; default OLLAMA_HOST or 127.0.0.1:11434


@dataclass
class FtpackConfig:
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    ship: ShipConfig = field(default_factory=ShipConfig)


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Turn YAML/CLI values into the field's declared type, or say which key is wrong."""
    hint = annotation
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        hint = options[0]
        origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if hint in (int, float, str):
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return hint(value)
        if origin is list:
            (item,) = typing.get_args(hint) or (str,)
            items = value.split(",") if isinstance(value, str) else list(value)
            return [_coerce(v.strip() if isinstance(v, str) else v, item, key) for v in items if v != ""]
    except (TypeError, ValueError):
        raise FtpackError(f"config {key}: {value!r} is not a valid {getattr(hint, '__name__', hint)}") from None
    return value


def _section_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def apply(config: FtpackConfig, key: str, value: Any) -> None:
    """Set `section.field` on config, coercing the value; unknown keys name the valid ones."""
    section_name, _, name = key.partition(".")
    sections = {f.name: f for f in dataclasses.fields(config)}
    if section_name not in sections or not name:
        raise FtpackError(f"unknown config key {key!r}: use section.field with section one of "
                          f"{', '.join(sections)}")
    section = getattr(config, section_name)
    hints = _section_types(type(section))
    if name not in hints:
        raise FtpackError(f"unknown config key {key!r}: {section_name} has {', '.join(hints)}")
    setattr(section, name, _coerce(value, hints[name], key))


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> FtpackConfig:
    config = FtpackConfig()
    if path is not None:
        import yaml  # only when a file is given

        path = Path(path)
        if not path.is_file():
            raise FtpackError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text("utf-8")) or {}
        except yaml.YAMLError as exc:
            raise FtpackError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(raw, dict):
            raise FtpackError(f"{path}: expected a mapping of sections (data:, train:, ...)")
        for section, values in raw.items():
            if not isinstance(values, dict):
                raise FtpackError(f"{path}: section {section!r} must be a mapping")
            for name, value in values.items():
                apply(config, f"{section}.{name}", value)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise FtpackError(f"--set {item!r}: write it as section.field=value")
        apply(config, key.strip(), value.strip())
    return config


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def section_from_dict(cls: type, values: dict[str, Any], where: str) -> Any:
    """Rebuild one section (e.g. a run's saved TrainConfig) with the same checks as YAML."""
    config = FtpackConfig()
    name = next(f.name for f in dataclasses.fields(config) if f.type in (cls, cls.__name__))
    for key, value in values.items():
        try:
            apply(config, f"{name}.{key}", value)
        except FtpackError as exc:
            raise FtpackError(f"{where}: {exc}") from None
    return getattr(config, name)
