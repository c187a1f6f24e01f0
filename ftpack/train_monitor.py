"""What a training run reports while it runs: loss logs and plot, an overfitting warning, an ETA.

  RUN_DIR/loss.jsonl, loss.csv   train and val loss per logging step / evaluation (rewritten at each log)
  RUN_DIR/loss.png               the plot, at the end
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

from ftpack.fsutil import atomic_path, write_text_atomic


def loss_rows(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for entry in log_history:
        if "loss" in entry:
            rows.append({"step": entry["step"], "epoch": entry.get("epoch"), "train_loss": entry["loss"],
                         "learning_rate": entry.get("learning_rate")})
        elif "eval_loss" in entry:
            rows.append({"step": entry["step"], "epoch": entry.get("epoch"), "val_loss": entry["eval_loss"]})
    return rows


def write_loss_log(run_dir: Path, log_history: list[dict[str, Any]]) -> None:
    rows = loss_rows(log_history)
    write_text_atomic(run_dir / "loss.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    out = io.StringIO()
    writer = csv.DictWriter(out, ["step", "epoch", "train_loss", "val_loss", "learning_rate"])
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(run_dir / "loss.csv", out.getvalue())


def read_loss_rows(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "loss.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if path.is_file() else []


def plot_loss(run_dir: Path, log_history: list[dict[str, Any]]) -> Path:
    return plot_loss_rows(run_dir, {"": loss_rows(log_history)})


def plot_loss_rows(run_dir: Path, runs: dict[str, list[dict[str, Any]]]) -> Path:
    """RUN_DIR/loss.png: train and val loss of each labelled run (one, or a soup's members)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for index, (label, rows) in enumerate(runs.items()):
        prefix = f"{label}: " if label else ""
        train = [(r["step"], r["train_loss"]) for r in rows if "train_loss" in r]
        val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
        if train:
            ax.plot(*zip(*train), label=f"{prefix}train loss", color=f"C{2 * index}")
        if val:
            ax.plot(*zip(*val), "o-", label=f"{prefix}val loss", color=f"C{2 * index + 1}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title(f"{run_dir.name}: loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(run_dir / "loss.png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return run_dir / "loss.png"


def overfitting(log_history: list[dict[str, Any]]) -> bool:
    """Val loss rose at two successive evaluations while train loss fell."""
    rows = loss_rows(log_history)
    evals = [r for r in rows if "val_loss" in r]
    if len(evals) < 3:
        return False

    def train_at(step: int) -> float | None:
        before = [r["train_loss"] for r in rows if "train_loss" in r and r["step"] <= step]
        return before[-1] if before else None

    (a, b, c) = evals[-3:]
    trains = [train_at(e["step"]) for e in (a, b, c)]
    if None in trains:
        return False
    return a["val_loss"] < b["val_loss"] < c["val_loss"] and trains[0] > trains[1] > trains[2]


def monitors(run_dir: Path, warnings: list[str]):
    from transformers import TrainerCallback

    class Monitor(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero:
                write_loss_log(run_dir, state.log_history)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if state.is_world_process_zero and overfitting(state.log_history):
                message = (f"val loss rose at two successive evaluations while train loss fell (step "
                           f"{state.global_step}): the model is overfitting; consider fewer epochs, a lower "
                           "learning rate or train.early_stopping_patience")
                if message not in warnings:
                    warnings.append(message)
                    print(f"ftpack: warning: {message}", flush=True)

    return [Monitor(), _progress_callback()]


def _eta_text(seconds: float) -> str:
    return f"~{seconds / 60:.0f} min" if seconds >= 90 else f"~{seconds:.0f} s"


def _progress_callback():
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """An ETA once the first steps are measured (the very first is slower: warm-up), then at each quarter."""

        def __init__(self):
            self.started_at: tuple[int, float] | None = None
            self.told: set[int] = set()

        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            if self.started_at is None:
                self.started_at = (state.global_step, now)
                return
            first, started = self.started_at
            done, total = state.global_step - first, state.max_steps
            quarter = max((q for q in (1, 2, 3) if state.global_step >= total * q / 4), default=0)
            first_report = 0 not in self.told and done >= min(5, max(1, total // 20))
            if not state.is_world_process_zero or not (first_report or (quarter and quarter not in self.told)):
                return
            self.told.update({0, quarter})
            left = (now - started) / done * (total - state.global_step)
            print(f"ftpack: step {state.global_step}/{total}, {_eta_text(left)} left", flush=True)

    return Progress()
