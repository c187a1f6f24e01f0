"""`ftpack sweep`: train a small grid on the same data and keep the config with the lowest val loss.

Each grid point is a normal training run in SWEEP_DIR/<name>/. LoRA alpha keeps its ratio to the
rank (alpha/r as configured), so ranks are compared at the same effective scale. A rerun skips
the points that already finished, so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

from ftpack.config import SweepConfig, TrainConfig
from ftpack.errors import FtpackError
from ftpack.fsutil import remove_tree, write_text_atomic
from ftpack.rundir import MARKER, check_run_target, create_marked, read_metrics
from ftpack.train import train


def grid(base: TrainConfig, grid_cfg: SweepConfig, root: Path) -> list[tuple[str, TrainConfig]]:
    points = []
    for lr, rank, epochs in itertools.product(grid_cfg.learning_rates, grid_cfg.lora_ranks, grid_cfg.epochs):
        name = f"lr{lr:g}-r{rank}-e{epochs:g}"
        alpha = max(1, round(base.lora_alpha * rank / base.lora_r))
        points.append((name, dataclasses.replace(base, learning_rate=lr, lora_r=rank, lora_alpha=alpha,
                                                 epochs=epochs, run_dir=str(root / name))))
    return points


def sweep(base: TrainConfig, grid_cfg: SweepConfig, overwrite: bool = False) -> dict[str, Any]:
    if not base.val_file:
        raise FtpackError("a sweep compares val loss: set train.val_file (--val)")
    root = Path(base.run_dir)
    check_run_target(root)
    if overwrite and root.exists():
        remove_tree(root, MARKER, "an ftpack sweep")
    create_marked(root)
    points = grid(base, grid_cfg, root)
    if not points:
        raise FtpackError("the sweep grid is empty: give at least one learning rate, rank and epoch count")
    runs = []
    for name, cfg in points:
        finished = read_metrics(cfg.run_dir).get("train")
        if finished:
            print(f"ftpack: sweep {name}: already trained, kept", flush=True)
        else:
            print(f"ftpack: sweep {name}: training", flush=True)
            finished = train(cfg, overwrite=True)
        runs.append({"name": name, "learning_rate": cfg.learning_rate, "lora_r": cfg.lora_r,
                     "lora_alpha": cfg.lora_alpha, "epochs": cfg.epochs, "val_loss": finished["val_loss"],
                     "final_train_loss": finished["final_train_loss"], "train_seconds": finished["train_seconds"],
                     "run_dir": cfg.run_dir})
    best = min(runs, key=lambda r: r["val_loss"])
    best_cfg = next(cfg for name, cfg in points if name == best["name"])
    lines = ["| run | learning rate | rank | alpha | epochs | val loss | train loss | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(runs, key=lambda r: r["val_loss"]):
        mark = " **best**" if r is best else ""
        lines.append(f"| {r['name']}{mark} | {r['learning_rate']:g} | {r['lora_r']} | {r['lora_alpha']} | "
                     f"{r['epochs']:g} | {r['val_loss']:.4f} | {r['final_train_loss']:.4f} | {r['train_seconds']} |")
    table = "\n".join(lines)
    import yaml

    best_values = {k: v for k, v in dataclasses.asdict(best_cfg).items() if k != "run_dir"}
    best_path = write_text_atomic(root / "best.yaml", yaml.safe_dump({"train": best_values}, sort_keys=False))
    write_text_atomic(root / "sweep.md", f"# Sweep\n\n{table}\n\nBest: {best['name']} -> {best_path}\n")
    write_text_atomic(root / "sweep.json", json.dumps({"runs": runs, "best": best["name"]}, indent=2) + "\n")
    return {"runs": runs, "best": best, "table": table, "best_config": str(best_path)}
