"""What adapting only the upper decoder layers saves per step of the ship recipe on this machine.

    python bench/adapted_layers.py [--first-layers 0 10 15] [--steps 30] [--rounds 2] [--config ship.yaml]

Trains the recipe of ship.yaml for a few optimizer steps with LoRA from each given layer up
(`train.lora_first_layer`; 0 adapts every layer): backpropagation stops at the lowest adapted
layer, while the forward pass still runs every layer. Variants alternate within each round, so
that a VM whose speed drifts over minutes biases none of them; the median of the rounds is
reported, with each variant's time against the first. Writes
bench/reports/adapted-layers.{json,md}. Figures only: accuracy needs whole runs (README).
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile

from _report import write_report
from train_speedups import WARMUP_STEPS, recipe_on_its_data, seconds_per_step, timing_parser


def main() -> None:
    parser = timing_parser(__doc__)
    parser.add_argument("--first-layers", type=int, nargs="+", default=[0, 10, 15])
    args = parser.parse_args()
    if args.steps <= WARMUP_STEPS:
        parser.error(f"--steps must be above the {WARMUP_STEPS} warm-up steps")

    timings: dict[int, list[float]] = {first: [] for first in args.first_layers}
    with tempfile.TemporaryDirectory() as scratch:
        config, recipe = recipe_on_its_data(args.config, args.steps, scratch)
        for round_ in range(args.rounds):
            for first in args.first_layers:
                cfg = dataclasses.replace(recipe, lora_first_layer=first)
                timings[first].append(seconds_per_step(cfg, args.steps))
                print(f"round {round_ + 1}: LoRA from layer {first}: {timings[first][-1]:.3f} s/step", flush=True)
    reference = statistics.median(timings[args.first_layers[0]])
    report = {
        "recipe": f"{args.config}: LoRA r {config.train.lora_r}, batch {config.train.batch_size} x {config.train.grad_accum}",
        "steps timed per run": f"{WARMUP_STEPS + 1}-{args.steps}, {args.rounds} interleaved rounds",
    }
    for first, values in timings.items():
        median = statistics.median(values)
        report[f"s/step, LoRA from layer {first}"] = (f"{median:.3f} ({', '.join(f'{v:.3f}' for v in values)}); "
                                                      f"{median / reference:.2f}x from layer {args.first_layers[0]}")
    write_report("adapted-layers", "Adapting only the upper layers: s/step of the ship recipe", report, args.out)


if __name__ == "__main__":
    main()
