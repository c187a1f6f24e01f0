"""examples/colab_t4.ipynb runs end to end on CPU, with a tiny model and the TRL backend.

Its code cells run in order in one namespace, as a kernel would run them. The parameters cell runs
first as written, then the test's values replace its settings (tiny base model, small data, TRL,
precision auto, a short benchmark). Only the cell tagged "install" is skipped: it clones ftpack and
runs ./install.sh into the notebook's machine, which this environment already is (the suite runs
from an installed checkout); it is the only cell allowed shell (`!`) or magic (`%`) lines. There is
no Ollama on Colab, so OLLAMA_HOST points at a closed port: the benchmark must run in llama.cpp.
"""

import json
from pathlib import Path

import pytest

from ftpack.train import choose_precision

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "colab_t4.ipynb"


def cells() -> list[dict]:
    notebook = json.loads(NOTEBOOK.read_text())
    assert notebook["nbformat"] == 4 and notebook["nbformat_minor"] >= 5
    assert notebook["metadata"]["kernelspec"]["language"] == "python"
    ids = [cell["id"] for cell in notebook["cells"]]
    assert len(set(ids)) == len(ids)
    for cell in notebook["cells"]:
        assert cell["cell_type"] in ("markdown", "code") and isinstance(cell["metadata"], dict)
        assert isinstance(cell["source"], list)
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None  # committed without outputs
    return notebook["cells"]


def tags(cell: dict) -> list[str]:
    return cell["metadata"].get("tags", [])


def test_only_the_install_cell_uses_the_shell():
    code = [c for c in cells() if c["cell_type"] == "code"]
    assert [tags(c) for c in code].count(["parameters"]) == 1 and [tags(c) for c in code].count(["install"]) == 1
    for cell in code:
        shell = [line for line in cell["source"] if line.lstrip().startswith(("!", "%"))]
        assert not shell or tags(cell) == ["install"], shell
    install = "".join(next(c for c in code if tags(c) == ["install"])["source"])
    assert "FTPACK_EXTRA=cuda ./install.sh" in install  # Unsloth and the TRL it accepts


def test_notebook_runs_on_cpu(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # Colab has no Ollama
    settings = [f"train.base_model={tiny_model}", "train.backend=trl", "train.precision=auto",
                "data.n_train=48", "data.n_val=8", "data.n_test=8", "train.max_steps=6", "train.lora_r=8",
                "train.batch_size=4", "train.grad_accum=1",
                "train.lora_alpha=16", "ship.bench_limit=4", "ship.compare_f16=false"]
    namespace: dict = {}
    for cell in cells():
        if cell["cell_type"] != "code" or tags(cell) == ["install"]:
            continue
        exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}:{cell['id']}", "exec"), namespace)
        if tags(cell) == ["parameters"]:
            assert namespace["SETTINGS"] == ["train.backend=unsloth", "train.precision=fp16"]  # the T4 recipe
            namespace.update(CONFIG=str(ROOT / "ship.yaml"), SETTINGS=settings)
    out = capsys.readouterr().out
    assert namespace["ship_code"] in (0, 1)  # 1: finished, a spec criterion missed (a tiny model)
    precision = choose_precision("auto", cuda=False)  # bf16 on CPUs that compute it natively
    assert f"trained with trl ({precision}) on CPU: " in out and "seconds: load" in out
    assert "benchmark engine: llama.cpp" in out and "(no Ollama was reachable)" in out
    archive = tmp_path / "runs" / "taskapi.tar"
    assert archive.is_file() and f"not on Colab: the archive is {archive}" in out
    metrics = json.loads((tmp_path / "runs" / "taskapi" / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 6 and metrics["bench"]["engine"].startswith("llama.cpp")
