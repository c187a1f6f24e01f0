"""One typed configuration for every stage, loaded from YAML and overridden from the CLI.

    data:
      seed: 7
      n_train: 500

Precedence: defaults < YAML file (--config) < `--set section.key=value` < a command's own flags.
Every field declares its valid range or choices where it is declared (pydantic dataclasses, which
validate each assignment), so a bad value is refused the same way from YAML, --set or a flag,
before any stage runs.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass

from ftpack.errors import FtpackError
from ftpack.fsutil import read_text
from ftpack.taskapi import ACTIONS

# assignment is validated too: that is how --set and the flags are checked
SECTION = ConfigDict(validate_assignment=True, extra="forbid", coerce_numbers_to_str=True)

# GGUF quantizations: name -> llama_ftype value (llama.h); the first is the default that is served
QUANTS = {"q4_k_m": 15, "q4_0": 2, "q5_k_m": 17, "q8_0": 7, "f16": 1}
# An Ollama model name (no tag) and tag, as the Ollama server accepts them
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$"
TAG_PATTERN = r"^[A-Za-z0-9_][\w.-]{0,127}$"
LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                 "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay")


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _known_quant(value: str) -> str:
    if value not in QUANTS:
        raise ValueError(f"use one of {', '.join(QUANTS)}")
    return value


def _ollama_host(value: str | None) -> str | None:
    if value is not None:
        from ftpack.ollama_host import ADDRESS_HELP, parse

        try:
            parse(value.strip())
        except ValueError as exc:
            raise ValueError(f"not an Ollama address ({exc}): {ADDRESS_HELP}") from None
    return value


def _model_name(value: str) -> str:
    if not re.fullmatch(MODEL_NAME_PATTERN, value):
        raise ValueError("an Ollama model name has letters, digits, '.', '_', '-' and at most one '/', "
                         "no tag, e.g. taskapi")
    return value


def _not_zero(value: int) -> int:
    if value == 0:
        raise ValueError("0 would train nothing: use -1 (epochs decide) or a positive step count")
    return value


Quant = Annotated[str, BeforeValidator(_lower), AfterValidator(_known_quant)]
NonEmpty = Annotated[str, Field(min_length=1)]


@dataclass(config=SECTION)
class DataConfig:
    """Stage 1: the Task API dataset."""

    seed: int = Field(7, ge=0)
    out_dir: NonEmpty = "data/taskapi"
    # bounded so that a typo (--train 100000000) is an error, not minutes of silence (~15 s at the bound)
    n_train: int = Field(500, ge=1, le=100_000)
    # of the n_train rows, how many are written as people type (ftpack/data/written.jsonl) instead of generated,
    # drawn from the written rows of these actions
    n_written: int = Field(0, ge=0, le=100_000)
    written_actions: list[Literal[ACTIONS]] = Field(default_factory=lambda: list(ACTIONS), min_length=1)
    n_val: int = Field(100, ge=1, le=20_000)
    n_test: int = Field(150, ge=1, le=20_000)


LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(config=SECTION)
class TrainConfig:
    """Stage 2: LoRA SFT. Defaults follow the capstone spec (effective batch 16, r 16, 3 epochs)."""

    base_model: NonEmpty = "smollm2-135m-instruct"
    train_file: NonEmpty = "data/taskapi/train.jsonl"
    val_file: str = "data/taskapi/val.jsonl"  # "" trains without validation
    run_dir: NonEmpty = "runs/taskapi"
    backend: Literal["auto", "unsloth", "trl"] = "auto"
    chat_template: str | None = None  # a .jinja file replacing the base model's template
    learning_rate: float = Field(2e-4, gt=0, le=1)
    epochs: float = Field(3.0, gt=0, le=1000)
    max_steps: Annotated[int, Field(ge=-1), AfterValidator(_not_zero)] = -1  # > 0: stop after this many steps
    batch_size: int = Field(4, ge=1, le=4096)
    grad_accum: int = Field(4, ge=1, le=4096)
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0, le=1)
    lr_scheduler: Annotated[Literal[LR_SCHEDULERS], BeforeValidator(_lower)] = "linear"
    lora_r: int = Field(16, ge=1, le=4096)
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    # NEFTune (transformers' Trainer): uniform noise of alpha / sqrt(tokens x width) on the input
    # embeddings while training, a regulariser against copying the training phrasings; 0: off
    neftune_noise_alpha: float = Field(0.0, ge=0, le=100)
    target_modules: list[NonEmpty] = Field(default_factory=lambda: list(LORA_TARGETS), min_length=1)
    # N > 0: adapt decoder layers N..last only. Backpropagation stops at the lowest adapted layer, so
    # the layers below it cost a forward pass alone (the ship recipe leaves 10 of 30 out: 0.75x a CPU step)
    lora_first_layer: int = Field(0, ge=0)
    max_length: int = Field(256, ge=8, le=1_048_576)
    load_in_4bit: bool = True  # QLoRA; Unsloth backend only
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"  # auto: bf16 > fp16 on CUDA; on CPU bf16 where native, else fp32
    # Recompute activations in the backward pass: None = on CUDA only when a row of max_length would
    # not fit the GPU without it (ftpack/train_args.py), off on CPU, where it only costs time.
    activation_checkpointing: bool | None = None
    # On CUDA, run the effective batch (batch_size x grad_accum) as the fewest micro-batches that fit
    # the GPU's memory; false: batch_size and grad_accum as given. No effect on CPU.
    auto_micro_batch: bool = True
    seed: int = Field(42, ge=0)
    # K > 1: train K runs on the same rows with seeds seed..seed+K-1 and average their weight deltas
    # into one adapter (ftpack/train_soup.py): K times the training time, one model's serving cost
    soup_members: int = Field(1, ge=1, le=16)
    logging_steps: int = Field(5, ge=1)
    eval_steps: int = Field(0, ge=0)  # 0: about six evaluations per run
    save_steps: int = Field(0, ge=0)  # 0: a checkpoint at every evaluation
    save_total_limit: int = Field(2, ge=1)
    early_stopping_patience: int = Field(0, ge=0)  # 0: off; N: stop after N evaluations without improvement


@dataclass(config=SECTION)
class SweepConfig:
    """`ftpack sweep`: a grid over these values, everything else from `train`."""

    learning_rates: list[Annotated[float, Field(gt=0, le=1)]] = Field(default_factory=lambda: [1e-4, 2e-4, 4e-4],
                                                                       min_length=1)
    lora_ranks: list[Annotated[int, Field(ge=1, le=4096)]] = Field(default_factory=lambda: [8, 16], min_length=1)
    epochs: list[Annotated[float, Field(gt=0, le=1000)]] = Field(default_factory=lambda: [3.0], min_length=1)


@dataclass(config=SECTION)
class ShipConfig:
    """`ftpack ship`: the whole pipeline; data and training come from their own sections."""

    # the Ollama model: NAME:candidate, promoted to NAME:latest on a pass
    name: Annotated[str, AfterValidator(_model_name)] = "taskapi"
    quant: Quant = "q4_k_m"  # the GGUF that is registered and benchmarked
    extra_quants: list[Quant] = field(default_factory=list)  # also exported, e.g. q4_k_m beside a served q4_0
    structured: bool = False  # benchmark with the JSON Schema as Ollama's `format`
    compare_f16: bool = True  # benchmark the f16 GGUF too (quantization cost)
    bench_limit: int = Field(0, ge=0)  # 0: every test case
    spec: str | None = None  # YAML spec file; default: the capstone spec
    # Ollama address; default OLLAMA_HOST or 127.0.0.1:11434
    host: Annotated[str | None, AfterValidator(_ollama_host)] = None


@dataclass(config=SECTION)
class FtpackConfig:
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    ship: ShipConfig = field(default_factory=ShipConfig)


def _from_text(value: Any, annotation: Any) -> Any:
    """What a command-line string means for a field: 'none' for an optional one, commas for a list."""
    if not isinstance(value, str):
        return value
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
    if type(None) in options and value.strip().lower() in ("none", "null"):
        return None
    if typing.get_origin(annotation) is list or any(typing.get_origin(o) is list for o in options):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def describe(error: ValidationError) -> str:
    """A pydantic error as one short clause: 'item 2: input should be greater than 0'."""
    first = error.errors()[0]
    where = ", ".join(f"item {part + 1}" for part in first["loc"][1:] if isinstance(part, int))
    message = first["msg"].removeprefix("Value error, ")
    message = message[0].lower() + message[1:]
    return f"{where}: {message}" if where else message


def override(config: FtpackConfig, flags: dict[str, Any]) -> FtpackConfig:
    """Apply a command's own flags on top of config: those given (not None), each named
    `section__field` (click's spelling of `section.field`)."""
    for key, value in flags.items():
        if value is not None:
            apply(config, key.replace("__", "."), value)
    return config


def apply(config: FtpackConfig, key: str, value: Any) -> None:
    """Set `section.field` on config, validating the value; unknown keys name the valid ones."""
    section_name, _, name = key.partition(".")
    sections = {f.name: f for f in dataclasses.fields(config)}
    if section_name not in sections or not name:
        raise FtpackError(f"unknown config key {key!r}: use section.field with section one of "
                          f"{', '.join(sections)}")
    section = getattr(config, section_name)
    hints = typing.get_type_hints(type(section), include_extras=False)
    if name not in hints:
        raise FtpackError(f"unknown config key {key!r}: {section_name} has {', '.join(hints)}")
    try:
        setattr(section, name, _from_text(value, hints[name]))
    except (ValidationError, ValueError) as exc:
        reason = describe(exc) if isinstance(exc, ValidationError) else str(exc)
        raise FtpackError(f"config {key}: {value!r} is not valid: {reason}") from None


def _value_lines(node: Any) -> dict[tuple[str, str], int]:
    """(section, field) -> line number of its value in the YAML file, for error messages."""
    import yaml

    lines = {}
    if isinstance(node, yaml.MappingNode):
        for section, values in node.value:
            if isinstance(values, yaml.MappingNode):
                for key, value in values.value:
                    lines[(section.value, key.value)] = value.start_mark.line + 1
    return lines


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> FtpackConfig:
    config = FtpackConfig()
    if path is not None:
        import yaml  # only when a file is given

        path = Path(path)
        if not path.is_file():
            raise FtpackError(f"config file not found: {path}")
        text = read_text(path)
        try:
            raw = yaml.safe_load(text) or {}
            lines = _value_lines(yaml.compose(text))
        except yaml.YAMLError as exc:
            raise FtpackError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
        except RecursionError:
            raise FtpackError(f"{path}: nested too deeply to be a config file") from None
        if not isinstance(raw, dict):
            raise FtpackError(f"{path}: expected a mapping of sections (data:, train:, ...)")
        for section, values in raw.items():
            if not isinstance(values, dict):
                raise FtpackError(f"{path}: section {section!r} must be a mapping")
            for name, value in values.items():
                try:
                    apply(config, f"{section}.{name}", value)
                except FtpackError as exc:
                    raise FtpackError(f"{path}:{lines.get((section, name), 1)}: {exc}") from None
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
    if not isinstance(values, dict):
        raise FtpackError(f"{where}: expected a JSON object of {name} settings")
    for key, value in values.items():
        try:
            apply(config, f"{name}.{key}", value)
        except FtpackError as exc:
            raise FtpackError(f"{where}: {exc}") from None
    return getattr(config, name)
