"""What each CPU training speed-up of the ship recipe is worth on this machine: s/step, interleaved.

    python bench/train_speedups.py [--steps 30] [--rounds 2] [--config ship.yaml]

Trains the recipe of ship.yaml (its data, rank, batch and precision) for a few optimizer steps as
shipped and with each speed-up undone in turn: SDPA attention instead of eager, PyTorch's unfused
AdamW instead of the fused one, PEFT's up-cast of LoRA inputs. Variants alternate within each round,
so that a VM whose speed drifts over minutes (this one's does, by 20-30 %) biases none of them; the
median of the rounds is reported. Writes bench/reports/train-speedups.{json,md}. Figures only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from _report import REPORTS, write_report

WARMUP_STEPS = 5
UNDONE = {
    "as shipped": (),
    "SDPA attention": ("attention",),
    "unfused AdamW": ("optimizer",),
    "PEFT's input casts": ("casts",),
    "none of them (before)": ("attention", "optimizer", "casts"),
}


@contextlib.contextmanager
def undone(what: tuple[str, ...]):
    """The training stage with the named speed-ups reverted to what it did before them."""
    import ftpack.train as stage

    saved = {name: getattr(stage, name) for name in ("attention_for", "sft_arguments", "lora_inputs_left_to_autocast")}
    if "attention" in what:
        stage.attention_for = lambda cuda: "sdpa"
    if "optimizer" in what:
        stage.sft_arguments = lambda *a, **k: {**saved["sft_arguments"](*a, **k), "optim": "adamw_torch"}
    if "casts" in what:
        stage.lora_inputs_left_to_autocast = lambda *a: contextlib.nullcontext()
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(stage, name, value)


def seconds_per_step(cfg, steps: int) -> float:
    from transformers import TrainerCallback

    from ftpack.train import train

    class StepClock(TrainerCallback):
        started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == WARMUP_STEPS:
                self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == steps:
                self.seconds = (time.perf_counter() - self.started) / (steps - WARMUP_STEPS)

    clock = StepClock()
    train(dataclasses.replace(cfg, max_steps=steps), overwrite=True, extra_callbacks=[clock])
    return clock.seconds


def timing_parser(doc: str) -> argparse.ArgumentParser:
    """The options every step-timing benchmark of the ship recipe takes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--config", default="ship.yaml")
    parser.add_argument("--out", type=Path, default=REPORTS)
    return parser


def recipe_on_its_data(config_path: str, steps: int, scratch: str) -> tuple[object, object]:
    """The config file and its training config on freshly generated data of its own recipe, in scratch."""
    from ftpack.config import load_config
    from ftpack.data.generate import write_dataset

    config = load_config(config_path)
    data = Path(scratch) / "data"
    write_dataset(data, seed=config.data.seed, n_train=config.data.n_train, n_val=10, n_test=10)
    return config, dataclasses.replace(config.train, train_file=str(data / "train.jsonl"), val_file="",
                                       run_dir=f"{scratch}/run", logging_steps=steps)


def main() -> None:
    parser = timing_parser(__doc__)
    args = parser.parse_args()
    if args.steps <= WARMUP_STEPS:
        parser.error(f"--steps must be above the {WARMUP_STEPS} warm-up steps")

    from ftpack.train import choose_precision

    timings: dict[str, list[float]] = {name: [] for name in UNDONE}
    with tempfile.TemporaryDirectory() as scratch:
        _, cfg = recipe_on_its_data(args.config, args.steps, scratch)
        for round_ in range(args.rounds):
            for name, what in UNDONE.items():
                with undone(what):
                    timings[name].append(seconds_per_step(cfg, args.steps))
                print(f"round {round_ + 1}: {name}: {timings[name][-1]:.3f} s/step", flush=True)
    shipped = statistics.median(timings["as shipped"])
    report = {
        "recipe": f"{args.config}: LoRA r {cfg.lora_r}, batch {cfg.batch_size} x {cfg.grad_accum}, "
                  f"{choose_precision(cfg.precision, cuda=False)}",
        "steps timed per run": f"{WARMUP_STEPS + 1}-{args.steps}, {args.rounds} interleaved rounds",
    }
    for name, values in timings.items():
        median = statistics.median(values)
        report[f"s/step, {name}"] = f"{median:.3f} ({', '.join(f'{v:.3f}' for v in values)}); " \
                                    f"{median / shipped:.2f}x as shipped"
    write_report("train-speedups", "CPU training speed-ups of the ship recipe", report, args.out)


if __name__ == "__main__":
    main()
