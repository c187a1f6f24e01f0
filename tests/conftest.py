"""Shared fixtures. The Ollama fixture finds a real server; it never fakes one.

Order: the server at OLLAMA_HOST (or the default loopback port) if it answers; else an `ollama`
binary on PATH, started on a free loopback port with temporary OLLAMA_MODELS and HOME; else skip.
FTPACK_REQUIRE_OLLAMA=1 (set by .ci/run) turns that skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ftpack.errors import FtpackError
from ftpack.ollama_host import base_url, scratch_server, server_version


def _no_ollama(reason: str):
    if os.environ.get("FTPACK_REQUIRE_OLLAMA") == "1":
        pytest.fail(f"FTPACK_REQUIRE_OLLAMA=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ollama_url():
    """Base URL of a reachable, real Ollama server."""
    try:
        server_version(timeout=2)
        yield base_url()
        return
    except FtpackError as exc:
        unreachable = str(exc)
    binary = shutil.which("ollama")
    if not binary:
        _no_ollama(f"{unreachable}; and no `ollama` binary on PATH")
    scratch = Path(tempfile.mkdtemp(prefix="ftpack-ollama-"))
    try:
        with scratch_server(binary, scratch) as host:
            old = os.environ.get("OLLAMA_HOST")
            os.environ["OLLAMA_HOST"] = host
            yield base_url(host)
            if old is None:
                os.environ.pop("OLLAMA_HOST", None)
            else:
                os.environ["OLLAMA_HOST"] = old
    except FtpackError as exc:
        _no_ollama(str(exc))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    from models import smollm2_tokenizer as load

    return load()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, smollm2_tokenizer):
    """A 2-layer Llama with SmolLM2's real tokenizer and ChatML template, saved as an HF dir."""
    from models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model", smollm2_tokenizer)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A small Task API dataset (48 train, 8 val, 8 test rows)."""
    from ftpack.data.generate import write_dataset

    out = tmp_path_factory.mktemp("tiny-data")
    write_dataset(out, seed=3, n_train=48, n_val=8, n_test=8)
    return out


@pytest.fixture(scope="session")
def tiny_run(tiny_model, tiny_data, tmp_path_factory):
    """A finished 8-step LoRA run of the tiny model: (TrainConfig, metrics)."""
    from models import tiny_config

    from ftpack.train import train

    cfg = tiny_config(tiny_model, tiny_data, tmp_path_factory.mktemp("runs") / "full")
    return cfg, train(cfg)


@pytest.fixture(scope="session")
def tiny_export(tiny_run):
    """The tiny run exported to every format (q4_K_M GGUF served, a q4_0 one beside it)."""
    from ftpack.export import export

    cfg, _ = tiny_run
    return cfg.run_dir, export(cfg.run_dir, ["adapter", "merged", "gguf"], "q4_k_m", extra_quants=["q4_0"])
