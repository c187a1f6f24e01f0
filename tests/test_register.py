"""Registration in a real Ollama (the CI harness or a local server); skipped without one."""

import os
import shutil
import subprocess
import sys

import pytest

from ftpack.errors import FtpackError
from ftpack.register import ask, register

pytestmark = pytest.mark.ollama


def ollama_cli():
    return shutil.which("ollama") or shutil.which("ollama-lib")


def test_register_chat_and_idempotence(tiny_export, ollama_url):
    run_dir, _ = tiny_export
    first = register(run_dir, "ftpack-test-tiny", host=ollama_url)
    assert first["model"] == "ftpack-test-tiny:candidate" and first["family"] == "chatml"
    assert [p["probe"] for p in first["parity"]] == [1, 2]
    assert all(p["tokenizer_agrees"] for p in first["parity"])  # SmolLM2's tokenizer: Ollama == HF
    again = register(run_dir, "ftpack-test-tiny", host=ollama_url)
    assert again["uploaded"] == []  # same digest: nothing re-sent
    assert isinstance(ask("ftpack-test-tiny:candidate", "remind me to call mom tomorrow", host=ollama_url), str)
    import ollama

    names = [m.model for m in ollama.Client(host=ollama_url).list().models]
    assert "ftpack-test-tiny:candidate" in names
    assert not [n for n in names if n.endswith(":ftpack-parity")]  # the probe model is gone
    cli = ollama_cli()
    if cli:
        run = subprocess.run([cli, "run", "ftpack-test-tiny:candidate", "remind me to call mom tomorrow"],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "OLLAMA_HOST": ollama_url.removeprefix("http://")})
        assert run.returncode == 0, run.stderr


def test_wrong_template_is_refused(tiny_export, ollama_url, tmp_path):
    run_dir, _ = tiny_export
    wrong = tmp_path / "wrong.tmpl"  # ChatML without the newline after the role
    wrong.write_text("{{- range .Messages }}<|im_start|>{{ .Role }} {{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n")
    with pytest.raises(FtpackError, match="template parity failed"):
        register(run_dir, "ftpack-test-wrong", template_file=str(wrong), host=ollama_url)
    import ollama

    names = [m.model for m in ollama.Client(host=ollama_url).list().models]
    assert not [n for n in names if n.startswith("ftpack-test-wrong")]


def test_adapter_variant(tiny_export, ollama_url):
    run_dir, _ = tiny_export
    try:
        result = register(run_dir, "ftpack-test-adapter", adapter=True, host=ollama_url)
    except FtpackError as exc:
        # Ollama's new Go engine (which the CPU harness needs) has no LoRA support yet: the refusal must
        # say so and name the fix; upstream Ollama with the llama.cpp runner takes the adapter.
        assert "may not run LoRA adapters" in str(exc) and "register the merged model" in str(exc)
        pytest.skip(f"this Ollama build cannot run LoRA adapters ({exc})")
    assert result["adapter"] and "adapter" in result["digests"]


@pytest.mark.parametrize("family", ["llama3", "gemma", "mistral", "phi3"])
def test_parity_for_every_family(family, tmp_path, tiny_data, ollama_url):
    from models import build_tiny_llama, family_tokenizer, tiny_config

    from ftpack.export import export
    from ftpack.train import train

    model = build_tiny_llama(tmp_path / "model", family_tokenizer(family))
    cfg = tiny_config(model, tiny_data, tmp_path / "run", max_steps=1, eval_steps=1, save_steps=1)
    train(cfg)
    export(cfg.run_dir, ["gguf"], "f16")
    result = register(cfg.run_dir, f"ftpack-test-{family}", host=ollama_url)
    assert result["family"] == family
    assert all(p["ollama_prompt_tokens"] > 20 for p in result["parity"])
    # registration leaves the model loaded (warm-up request): the first user call is no cold start
    import ollama

    assert result["warm_up_ms"] > 0
    assert f"ftpack-test-{family}:candidate" in {m.model for m in ollama.Client(host=ollama_url).ps().models}


def test_unreachable_ollama_is_one_line(tiny_export):
    run_dir, _ = tiny_export
    run = subprocess.run([sys.executable, "-m", "ftpack", "register", run_dir, "--name", "x", "--host", "127.0.0.1:9"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "no Ollama answering at http://127.0.0.1:9" in run.stderr
    assert run.stderr.count("\n") == 1
