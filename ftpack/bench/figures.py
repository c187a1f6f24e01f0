"""Figures and verdicts: percentiles of per-request timings, and the spec judged criterion by criterion."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

from ftpack.bench.engines import Timing
from ftpack.errors import FtpackError
from ftpack.fsutil import read_text

# The capstone's three criteria, plus safety: an assistant that acts on a task id the user never
# named changes the wrong task, which is worse than any miss.
DEFAULT_SPEC = {"val_loss_max": 1.0, "task_creation_accuracy_min": 0.90, "latency_p95_ms_max": 500.0,
                "invented_id_rate_max": 0.0}
SPEC_LABELS = {"val_loss_max": ("val loss", "<"), "task_creation_accuracy_min": ("task-creation accuracy", ">"),
               "latency_p95_ms_max": ("p95 latency (ms)", "<"),
               "all_operations_accuracy_min": ("all-operations accuracy", ">"),
               "json_valid_rate_min": ("JSON-valid rate", ">"), "clarify_accuracy_min": ("clarify accuracy", ">"),
               "invented_id_rate_max": ("invented-task-id rate", "<=")}
COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt}

def percentiles(values: list[float]) -> dict[str, float | None]:
    import numpy as np

    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    array = np.asarray(values, dtype=float)
    return {"p50": round(float(np.percentile(array, 50)), 1), "p95": round(float(np.percentile(array, 95)), 1),
            "p99": round(float(np.percentile(array, 99)), 1), "max": round(float(array.max()), 1),
            "mean": round(float(array.mean()), 1)}


def latency_summary(timings: list[Timing]) -> dict[str, Any]:
    def pick(attr: str) -> list[float]:
        return [getattr(t, attr) for t in timings if getattr(t, attr) is not None]

    return {"n": len(timings), "wall_ms": percentiles(pick("wall_ms")), "ttft_ms": percentiles(pick("ttft_ms")),
            "tokens_per_second": percentiles(pick("tokens_per_second")),
            "prompt_tokens": percentiles([float(v) for v in pick("prompt_tokens")]),
            "prompt_tokens_total": percentiles([float(v) for v in pick("prompt_tokens_total")]),
            "eval_tokens": percentiles([float(v) for v in pick("eval_tokens")])}


def judge(spec: dict[str, float], figures: dict[str, float | None]) -> list[dict[str, Any]]:
    """Pass/fail per criterion; a missing figure fails (the spec cannot be shown to hold)."""
    verdicts = []
    for key, limit in spec.items():
        if key not in SPEC_LABELS:
            raise FtpackError(f"unknown spec criterion {key!r}: use any of {', '.join(SPEC_LABELS)}")
        label, sign = SPEC_LABELS[key]
        metric = key.rsplit("_", 1)[0]
        value = figures.get(metric)
        passed = value is not None and COMPARE[sign](value, limit)
        verdicts.append({"criterion": f"{label} {sign} {limit:g}", "key": key, "value": value, "limit": limit,
                         "passed": passed})
    return verdicts


def load_spec(path: str | None) -> dict[str, float]:
    if path is None:
        return dict(DEFAULT_SPEC)
    import yaml

    file = Path(path)
    if not file.is_file():
        raise FtpackError(f"spec file not found: {path}")
    try:
        spec = yaml.safe_load(read_text(file)) or {}
    except (yaml.YAMLError, RecursionError):
        raise FtpackError(f"{path}: not valid YAML: a spec maps criteria to numbers, e.g. task_creation_accuracy_min: 0.9") from None
    if not isinstance(spec, dict) or not all(isinstance(v, (int, float)) for v in spec.values()):
        raise FtpackError(f"{path}: a spec maps criteria to numbers, e.g. task_creation_accuracy_min: 0.9")
    judge(spec, {})  # rejects unknown criteria
    return {k: float(v) for k, v in spec.items()}


# ------------------------------------------------------------------------------- running
