"""The run directory that every stage after training reads and extends.

RUN_DIR/train_config.json and base_model.json say how the run was made; RUN_DIR/metrics.json has
one section per stage (train, export, register, bench), each written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftpack import base_model as base_models
from ftpack.config import TrainConfig, section_from_dict
from ftpack.errors import FtpackError
from ftpack.fsutil import write_text_atomic


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "metrics.json"
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def update_metrics(run_dir: str | Path, section: str, values: dict[str, Any]) -> None:
    metrics = read_metrics(run_dir)
    metrics[section] = values
    write_text_atomic(Path(run_dir) / "metrics.json", json.dumps(metrics, indent=2) + "\n")


def load_run_config(run_dir: str | Path) -> TrainConfig:
    path = Path(run_dir) / "train_config.json"
    if not path.is_file():
        raise FtpackError(f"{run_dir} is not a training run (no train_config.json): run `ftpack train` first")
    return section_from_dict(TrainConfig, json.loads(path.read_text("utf-8")), str(path))


def load_run_base_model(run_dir: str | Path) -> base_models.BaseModel:
    path = Path(run_dir) / "base_model.json"
    if not path.is_file():
        raise FtpackError(f"{run_dir} has no base_model.json: it is not a finished `ftpack train` run")
    return base_models.BaseModel.from_json(path.read_text("utf-8"))
