"""Training throughput of the default base model on this machine: tokens/s, s/step, peak RSS.

    python bench/train_throughput.py [--steps 10] [--base-model smollm2-135m-instruct]

Trains LoRA with the default config (batch 4 x grad accum 4, r 16, max length 256) for a few
optimizer steps on the default Task API dataset, without evaluation, and writes
bench/reports/train_throughput.{json,md}. Figures only: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _report import REPORTS, write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--base-model", default="smollm2-135m-instruct")
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args()

    import torch

    from ftpack.config import TrainConfig
    from ftpack.data.generate import write_dataset
    from ftpack.train import train

    with tempfile.TemporaryDirectory() as scratch:
        write_dataset(Path(scratch) / "data", seed=7, n_train=500, n_val=100, n_test=150)
        cfg = TrainConfig(base_model=args.base_model, train_file=f"{scratch}/data/train.jsonl", val_file="",
                          run_dir=f"{scratch}/run", max_steps=args.steps, logging_steps=1)
        metrics = train(cfg)
    report = {
        "base_model": args.base_model,
        "steps": metrics["steps"],
        "effective_batch": cfg.batch_size * cfg.grad_accum,
        "lora_r": cfg.lora_r,
        "activation_checkpointing": metrics["activation_checkpointing"],
        "backend": metrics["backend"],
        "device": metrics["device"],
        "threads": torch.get_num_threads(),
        "train_seconds": metrics["train_seconds"],
        "seconds_per_step": round(metrics["train_seconds"] / metrics["steps"], 2),
        "tokens_per_second": metrics["tokens_per_second"],
        "peak_rss_mb": metrics["peak_rss_mb"],
        "first_train_loss": round(metrics["first_train_loss"], 4),
        "final_train_loss": round(metrics["final_train_loss"], 4),
        "torch": torch.__version__,
    }
    write_report("train_throughput", "Training throughput", report, args.out)


if __name__ == "__main__":
    main()
