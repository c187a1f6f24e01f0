"""`ftpack pack`: a run becomes one archive that registers in an Ollama from any folder."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ftpack.errors import FtpackError
from ftpack.pack import pack, register_bundle, safe_extract

NAME = "ftpack-test-pack"


@pytest.fixture(scope="module")
def archive(tiny_export, tmp_path_factory):
    """The tiny run packed, then moved to a folder that has nothing else in it."""
    run_dir, _ = tiny_export
    result = pack(run_dir, tmp_path_factory.mktemp("trained") / "bundle.tar", name=NAME)
    elsewhere = tmp_path_factory.mktemp("laptop") / "downloads"
    elsewhere.mkdir()
    moved = Path(shutil.move(result["archive"], elsewhere / "bundle.tar"))
    return moved, result


def unpack(archive_path: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    return safe_extract(archive_path, into)


def test_bundle_is_small_and_self_contained(archive, tiny_export, tmp_path):
    archive_path, result = archive
    folder = unpack(archive_path, tmp_path)
    gguf = folder / f"{NAME}-q4_k_m.gguf"
    assert folder.name == NAME and gguf.is_file()
    names = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert names == {gguf.name, "Modelfile", "chat_template.jinja", "bundle.json", "README.md", "metrics.json"}
    assert archive_path.stat().st_size < gguf.stat().st_size + 200_000  # no tokenizer, no merged model
    modelfile = (folder / "Modelfile").read_text()
    assert f"\nFROM ./{gguf.name}\n" in modelfile  # relative: works wherever the folder is
    assert 'TEMPLATE """' in modelfile and "PARAMETER stop" in modelfile
    assert f"ollama create {NAME} -f Modelfile" in (folder / "README.md").read_text()
    record = json.loads((folder / "bundle.json").read_text())
    assert record["sha256"] == result["sha256"] and len(record["parity_prompts"]) == 2
    run_dir, _ = tiny_export
    assert (folder / "chat_template.jinja").read_text() == (Path(run_dir) / "chat_template.jinja").read_text()


def test_a_damaged_copy_is_refused_before_ollama_is_asked(archive, tmp_path):
    folder = unpack(archive[0], tmp_path)
    gguf = next(folder.glob("*.gguf"))
    data = bytearray(gguf.read_bytes())
    data[-1] ^= 0xFF
    gguf.write_bytes(bytes(data))
    with pytest.raises(FtpackError, match="sha256 differs"):
        register_bundle(folder, NAME, host="127.0.0.1:9")  # no server there: the check comes first


def test_an_archive_escaping_its_folder_is_refused(tmp_path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        (tmp_path / "x").write_text("x")
        tar.add(tmp_path / "x", arcname="../x")
    with pytest.raises(FtpackError, match="not a plain file inside the bundle"):
        register_bundle(evil, NAME)
    assert not list(tmp_path.glob(".ftpack-bundle-*"))  # its scratch folder is gone


@pytest.mark.ollama
def test_ftpack_register_takes_the_archive(archive, ollama_url):
    archive_path, _ = archive
    run = subprocess.run([sys.executable, "-m", "ftpack", "register", str(archive_path), "--name", NAME,
                          "--host", ollama_url], capture_output=True, text=True, timeout=600,
                         cwd=archive_path.parent)
    assert run.returncode == 0, run.stderr
    assert f"registered {NAME}:candidate" in run.stdout and "template parity: 2 probes ok" in run.stdout
    assert not list(archive_path.parent.glob(".ftpack-bundle-*"))  # the unpacked copy is cleaned up
    import ollama

    client = ollama.Client(host=ollama_url)
    reply = client.chat(model=f"{NAME}:candidate", messages=[{"role": "user", "content": "remind me to call mom"}],
                        options={"num_predict": 16})
    assert isinstance(reply.message.content, str)
    client.delete(f"{NAME}:candidate")


@pytest.mark.ollama
def test_ollama_create_from_the_unpacked_folder(archive, ollama_url, tmp_path):
    cli = shutil.which("ollama") or shutil.which("ollama-lib")
    if not cli:
        pytest.skip("no ollama CLI on PATH to run `ollama create -f Modelfile` with")
    folder = unpack(archive[0], tmp_path / "unpacked")
    env = {**os.environ, "OLLAMA_HOST": ollama_url.removeprefix("http://")}
    create = subprocess.run([cli, "create", f"{NAME}-cli", "-f", "Modelfile"], cwd=folder, env=env,
                            capture_output=True, text=True, timeout=300)
    assert create.returncode == 0, create.stderr
    run = subprocess.run([cli, "run", f"{NAME}-cli", "remind me to call mom tomorrow"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    subprocess.run([cli, "rm", f"{NAME}-cli"], env=env, capture_output=True, timeout=60)
