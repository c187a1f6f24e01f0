"""`ftpack train` under the TRL/transformers/datasets that the `cuda` extra resolves to, on CPU.

Unsloth caps TRL, transformers and datasets below what a CPU install gets, and a trainer argument
that only the newer versions know crashed `--backend trl` on every GPU machine while CI stayed green.
These tests install the cuda extra's ranges (read from pyproject.toml; all but unsloth and
bitsandbytes, which need CUDA) into a venv layered over this environment (--system-site-packages),
built once and cached, and run `ftpack train` on the tiny model there in a subprocess:

* the cuda extra exactly (TRL 1.15): every trainer argument is accepted and the trainer is built; TRL
  1.15 then computes the loss only with a Triton kernel, so on a machine without a GPU ftpack must stop
  with a one-line error that says so (on a GPU the same test trains);
* the cuda extra's transformers and datasets with the cpu extra's oldest TRL (1.16): a few real steps.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
NEEDS_CUDA = {"unsloth", "bitsandbytes", "ftpack"}
NETWORK_ERRORS = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
                  "Network is unreachable", "No matching distribution found", "ConnectionError")


def extras() -> dict[str, list[Requirement]]:
    raw = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {name: [Requirement(line) for line in lines] for name, lines in raw.items()}


def cuda_extra_requirements(trl_from_cpu_floor: bool = False) -> list[Requirement]:
    """The cuda extra's ranges, each merged with the pipeline extra's range for the same package.

    trl_from_cpu_floor: TRL pinned to the cpu extra's floor instead (the oldest that trains on CPU).
    """
    every = extras()
    shared = {r.name: r for r in every["pipeline"]}
    merged = []
    for requirement in every["cuda"]:
        if requirement.name in NEEDS_CUDA:
            continue
        if requirement.name in shared:
            requirement.specifier &= shared[requirement.name].specifier
        if requirement.name == "trl" and trl_from_cpu_floor:
            (cpu_trl,) = [r for r in every["cpu"] if r.name == "trl"]
            floor = min(s.version for s in cpu_trl.specifier if s.operator == ">=")
            requirement = Requirement(f"trl=={floor}")
        merged.append(requirement)
    return merged


def old_stack_venv(requirements: list[Requirement]) -> Path:
    """A cached venv over this environment with the requirements installed; built once per pin set."""
    key = hashlib.sha256(json.dumps([sys.version, sys.prefix, *map(str, requirements)]).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("FTPACK_TEST_CACHE", Path.home() / ".cache" / "ftpack" / "test-venvs"))
    venv = cache / f"cuda-extra-{key}"
    python = venv / "bin" / "python"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be building the same venv
        if (venv / "ftpack-ready").is_file():
            return python
        shutil.rmtree(venv, ignore_errors=True)  # a half-built one from a killed run
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
        pip = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                              *map(str, requirements)], capture_output=True, text=True, timeout=600)
        if pip.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            if any(error in pip.stderr for error in NETWORK_ERRORS):
                pytest.skip(f"pip cannot reach the package index to install {', '.join(map(str, requirements))}: "
                            f"{pip.stderr.strip().splitlines()[-1]}")
            pytest.fail(f"pip could not install the cuda extra's ranges:\n{pip.stderr}", pytrace=False)
        (venv / "ftpack-ready").write_text("\n".join(map(str, requirements)) + "\n")
    return python


TRAIN_SCRIPT = """
import json, sys
from importlib import metadata
from pathlib import Path
from models import tiny_config
from ftpack.errors import FtpackError
from ftpack.train import train

model, data, run = map(Path, sys.argv[1:4])
versions = {p: metadata.version(p) for p in ("trl", "transformers", "datasets", "peft")}
try:
    result = {"metrics": train(tiny_config(model, data, run, max_steps=4, eval_steps=2, save_steps=2))}
except FtpackError as exc:
    result = {"error": str(exc)}
print("RESULT " + json.dumps({"versions": versions, **result}))
"""


def train_in(requirements: list[Requirement], tiny_model, tiny_data, run_dir) -> dict:
    python = old_stack_venv(requirements)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    run = subprocess.run([str(python), "-c", TRAIN_SCRIPT, str(tiny_model), str(tiny_data), str(run_dir)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0 and "RESULT " in run.stdout, run.stderr[-4000:]
    result = json.loads(run.stdout.split("RESULT ", 1)[1])
    for requirement in requirements:  # it really ran the old stack, not this environment's
        assert Version(result["versions"][requirement.name]) in requirement.specifier, (requirement, result["versions"])
    return result


def check_trained(metrics: dict, run_dir: Path) -> None:
    assert metrics["steps"] == 4 and metrics["val_loss"] is not None
    assert metrics["activation_checkpointing"] is False  # TRL's own default (True) was overridden
    assert metrics["time"]["steps"] > 0 and metrics["time"]["eval"] > 0
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()


def test_the_cuda_extras_exact_versions_build_the_trainer(tiny_model, tiny_data, tmp_path):
    requirements = cuda_extra_requirements()
    assert {r.name for r in requirements} >= {"trl", "transformers", "datasets"}
    result = train_in(requirements, tiny_model, tiny_data, tmp_path / "run")
    import torch

    if torch.cuda.is_available():
        check_trained(result["metrics"], tmp_path / "run")
    else:  # the arguments passed (SFTConfig and SFTTrainer were built); the loss kernel needs a GPU
        assert "trains only on a GPU" in result["error"] and "Triton" in result["error"], result
        assert "\n" not in result["error"]


def test_a_few_steps_under_the_cuda_extras_transformers_and_datasets(tiny_model, tiny_data, tmp_path):
    requirements = cuda_extra_requirements(trl_from_cpu_floor=True)
    result = train_in(requirements, tiny_model, tiny_data, tmp_path / "run")
    assert "error" not in result, result
    check_trained(result["metrics"], tmp_path / "run")
