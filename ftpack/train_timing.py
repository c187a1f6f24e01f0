"""Where the time of `ftpack train` goes, and a cadence for evaluation and checkpoints that stays cheap.

metrics.json["train"]["time"] holds, in seconds:

  load            reading the base model and wrapping it with LoRA (Unsloth also patches and compiles here)
  tokenize        tokenizing and filtering the train and val files
  trainer_setup   building the trainer (dataset preparation, optimizer set-up)
  first_step      the first optimizer step: CUDA/kernel warm-up and any compilation happen in it
  warmup          of first_step, how much longer it took than the median step (compilation, warm-up)
  steps           every other optimizer step (forward, backward, optimizer)
  eval            evaluations during training, and the final one when it was stale
  save            checkpoint writes during training
  loop_other      the rest of the training loop (fetching batches, logging, callbacks)
  final_save      the adapter, tokenizer, loss log and plot at the end
  total           the whole `ftpack train` call

With automatic evaluation and checkpoint intervals (train.eval_steps / save_steps 0), the
CadenceGovernor keeps evaluation and checkpointing under OVERHEAD_BUDGET of the step time: whenever
they have cost more, both intervals double (a checkpoint stays at every evaluation). The last step is
always evaluated and saved by the Trainer, so the final figures never depend on the cadence.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import Any, Iterator

OVERHEAD_BUDGET = 0.10  # evaluation + checkpoints, as a share of step time


class PhaseClock:
    """Wall time of named phases, in order."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - began)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def report(self, loop: dict[str, float]) -> dict[str, float]:
        merged = {**self.seconds}
        for name, seconds in loop.items():
            merged[name] = merged.get(name, 0.0) + seconds
        merged["total"] = time.perf_counter() - self.started
        order = ("load", "tokenize", "trainer_setup", "first_step", "warmup", "steps", "eval", "save",
                 "loop_other", "final_save")
        order += tuple(name for name in merged if name not in order and name != "total") + ("total",)
        return {name: round(merged.get(name, 0.0), 3) for name in order}


def loop_timer(adaptive_cadence: bool, log=print):
    """A TrainerCallback that times the training loop and, if asked, governs the eval/save cadence."""
    from transformers import TrainerCallback

    class LoopTimer(TrainerCallback):
        def __init__(self) -> None:
            self.cursor: float | None = None
            self.buckets = {"first_step": 0.0, "steps": 0.0, "eval": 0.0, "save": 0.0, "loop_other": 0.0}
            self.step_seconds: list[float] = []
            self.stretches: list[dict[str, int]] = []

        def _lap(self, bucket: str) -> None:
            now = time.perf_counter()
            if self.cursor is not None:
                self.buckets[bucket] += now - self.cursor
            self.cursor = now

        def on_train_begin(self, args, state, control, **kwargs):
            self.cursor = time.perf_counter()

        def on_step_begin(self, args, state, control, **kwargs):
            self._lap("loop_other")

        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            duration = now - (self.cursor or now)
            self.buckets["first_step" if not self.step_seconds else "steps"] += duration
            self.step_seconds.append(duration)
            self.cursor = now

        def on_evaluate(self, args, state, control, **kwargs):
            if self.cursor is not None:  # an evaluation after training is timed by its caller
                self._lap("eval")
                self._govern(state)

        def on_save(self, args, state, control, **kwargs):
            self._lap("save")
            self._govern(state)

        def on_train_end(self, args, state, control, **kwargs):
            self._lap("loop_other")
            self.cursor = None

        def _govern(self, state: Any) -> None:
            steps = self.buckets["first_step"] + self.buckets["steps"]
            overhead = self.buckets["eval"] + self.buckets["save"]
            if not adaptive_cadence or state.global_step >= state.max_steps or overhead <= OVERHEAD_BUDGET * steps:
                return
            state.eval_steps *= 2
            if state.save_steps > 0:
                state.save_steps *= 2
            self.stretches.append({"at_step": state.global_step, "eval_steps": state.eval_steps,
                                   "save_steps": state.save_steps})
            log(f"ftpack: evaluation and checkpoints took {100 * overhead / max(steps, 1e-9):.0f} % of the step "
                f"time so far: now every {state.eval_steps} steps")

        def report(self) -> dict[str, float]:
            loop = dict(self.buckets)
            if len(self.step_seconds) > 1:
                loop["warmup"] = max(0.0, self.step_seconds[0] - statistics.median(self.step_seconds[1:]))
            return loop

    return LoopTimer()
