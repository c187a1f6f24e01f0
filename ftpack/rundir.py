"""The run directory that every stage after training reads and extends.

RUN_DIR/.ftpack-run marks a folder ftpack created: only such a folder is ever replaced or deleted
(`train --overwrite`, `ship`, `sweep --overwrite`). RUN_DIR/train_config.json and base_model.json
say how the run was made; RUN_DIR/metrics.json has one section per stage (train, export, register,
bench), each written atomically. A run that replaces a finished one is built beside it, in
.RUN_NAME.next, and swapped in only once it has succeeded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ftpack import base_model as base_models
from ftpack.config import TrainConfig, section_from_dict
from ftpack.errors import FtpackError
from ftpack.fsutil import check_writable, protected, read_json, read_text, remove_tree, write_text_atomic

MARKER = ".ftpack-run"
MARKER_TEXT = "Made by ftpack: `ftpack train --overwrite` and `ftpack ship` may replace this folder.\n"


def _retrain(run_dir: Path) -> str:
    return f"retrain it with `ftpack train --run-dir {run_dir} --overwrite`"


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        return {}
    metrics = read_json(path, _retrain(Path(run_dir)))
    if not isinstance(metrics, dict):
        raise FtpackError(f"{path}: damaged (not a JSON object): {_retrain(Path(run_dir))}")
    return metrics


def export_path(run_dir: str | Path, record: dict[str, Any] | None) -> Path | None:
    """Where an artefact that `ftpack export` recorded lies now (None: never exported).

    metrics.json keeps each path as export wrote it, relative to that command's working directory;
    a later command run from elsewhere, or a run dir moved or copied, finds the artefact in the
    run's own export/ folder by name.
    """
    if not record or "path" not in record:
        return None
    recorded = Path(record["path"])
    own = Path(run_dir) / "export" / recorded.name
    return own if own.exists() else recorded


def update_metrics(run_dir: str | Path, section: str, values: dict[str, Any]) -> None:
    metrics = read_metrics(run_dir)
    metrics[section] = values
    write_text_atomic(Path(run_dir) / "metrics.json", json.dumps(metrics, indent=2) + "\n")


def finished_run(run_dir: str | Path) -> dict[str, Any]:
    """The run's metrics, after checking that it is a finished training run."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise FtpackError(f"run dir not found: {run_dir} (train one with `ftpack train --run-dir {run_dir}`)")
    if not run_dir.is_dir():
        raise FtpackError(f"{run_dir} is a file, not a run dir")
    metrics = read_metrics(run_dir)
    if "train" not in metrics:
        raise FtpackError(f"{run_dir} is not a finished training run (no metrics.json train section): finish it "
                          f"with `ftpack train --run-dir {run_dir} --resume` or train it anew")
    return metrics


def read_run_file(run_dir: str | Path, name: str) -> str:
    """A text file training wrote into the run (chat_template.jinja, ...)."""
    path = Path(run_dir) / name
    if not path.is_file():
        raise FtpackError(f"{run_dir} has no {name}: the run is incomplete; {_retrain(Path(run_dir))}")
    return read_text(path)


def load_run_config(run_dir: str | Path) -> TrainConfig:
    path = Path(run_dir) / "train_config.json"
    if not path.is_file():
        raise FtpackError(f"{run_dir} is not a training run (no train_config.json): run `ftpack train` first")
    return section_from_dict(TrainConfig, read_json(path, _retrain(Path(run_dir))), str(path))


def load_run_base_model(run_dir: str | Path) -> base_models.BaseModel:
    path = Path(run_dir) / "base_model.json"
    if not path.is_file():
        raise FtpackError(f"{run_dir} has no base_model.json: it is not a finished `ftpack train` run")
    try:
        return base_models.BaseModel(**read_json(path, _retrain(Path(run_dir))))
    except TypeError:
        raise FtpackError(f"{path}: damaged (not a base model record): {_retrain(Path(run_dir))}") from None


# ------------------------------------------------------------------------------- lifecycle
def is_run(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and (path / MARKER).is_file()


def _has_checkpoint(path: Path) -> bool:
    """A checkpoint of the run, or of one of its soup members (RUN_DIR/members/member-K)."""
    return any(path.glob("checkpoints/checkpoint-*")) or any(path.glob("members/member-*/checkpoints/checkpoint-*"))


def staging_dir(run_dir: Path) -> Path:
    return run_dir.parent / f".{run_dir.name}.next"


def check_run_target(run_dir: str | Path) -> None:
    """Refuse, before anything runs, a --run-dir that ftpack may not write a run into."""
    run_dir = Path(run_dir)
    reason = protected(run_dir)
    if reason:
        raise FtpackError(f"--run-dir {run_dir}: {reason}; give a folder of its own, such as runs/taskapi")
    check_writable(run_dir, "--run-dir")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not is_run(run_dir):
        raise FtpackError(f"--run-dir {run_dir} already holds files that are not an ftpack run (no {MARKER} "
                          "file): ftpack will not write into or delete it; choose another --run-dir (a run made "
                          f"by an older ftpack: `touch {run_dir / MARKER}` if it is one)")


def create_marked(path: Path) -> Path:
    """Make `path` (if needed) with the marker that lets ftpack replace it later."""
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
    return path


def plan_run(run_dir: str | Path, overwrite: bool) -> str:
    """How a new run goes into RUN_DIR: "new" (none there), "restart" (an unfinished run with no
    checkpoint, what a failed start leaves: nothing in it to keep) or "replace" (--overwrite of a
    run: built beside it and swapped in by `close_run`). Checks only; changes nothing."""
    run_dir = Path(run_dir)
    check_run_target(run_dir)
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return "new"
    if "train" not in read_metrics(run_dir) and not _has_checkpoint(run_dir):
        return "restart"
    if not overwrite:
        raise FtpackError(f"run dir {run_dir} already exists: pass --overwrite to replace it, --resume to "
                          "continue it, or choose another --run-dir")
    return "replace"


def open_run(run_dir: str | Path, overwrite: bool) -> Path:
    """The folder a new run trains in, created with its marker: RUN_DIR, or its staging sibling."""
    run_dir = Path(run_dir)
    plan = plan_run(run_dir, overwrite)
    if plan == "restart":
        remove_tree(run_dir, MARKER, "an ftpack run")
    if plan != "replace":
        return create_marked(run_dir)
    staging = staging_dir(run_dir)
    if staging.exists():
        remove_tree(staging, MARKER, "an ftpack run")
    return create_marked(staging)


def resumable(run_dir: str | Path) -> Path | None:
    """The folder holding the checkpoints to resume: a killed replacement run's, else RUN_DIR's."""
    run_dir = Path(run_dir)
    for folder in (staging_dir(run_dir), run_dir):
        if is_run(folder) and _has_checkpoint(folder) and (folder / "train_config.json").is_file():
            return folder
    return None


def close_run(work_dir: Path, run_dir: str | Path) -> None:
    """Swap a finished replacement run in for the old one."""
    run_dir = Path(run_dir)
    if work_dir.resolve() == run_dir.resolve():
        return
    old = run_dir.parent / f".{run_dir.name}.old"
    if old.exists():
        remove_tree(old, MARKER, "an ftpack run")
    if run_dir.exists():
        os.replace(run_dir, old)
    os.replace(work_dir, run_dir)
    if old.exists():
        remove_tree(old, MARKER, "an ftpack run")


def discard_failed(work_dir: Path, keep_folder: bool = False) -> None:
    """Remove what a failed start created, unless it got as far as a checkpoint worth resuming;
    keep_folder leaves the (empty) folder itself when the user had made it."""
    if is_run(work_dir) and not _has_checkpoint(work_dir) and "train" not in read_metrics(work_dir):
        remove_tree(work_dir, MARKER, "an ftpack run")
        if keep_folder:
            work_dir.mkdir()
