"""llama.cpp's own converter scripts, matching the installed llama-cpp-python.

convert_hf_to_gguf.py, convert_lora_to_gguf.py, their conversion/ package and llama.cpp's own
gguf-py ship in the llama-cpp-python sdist (vendor/llama.cpp). `ftpack setup` fetches the sdist of
the installed version once through pip and keeps those files in the cache; export runs them from
there, offline, in a subprocess. Using the same llama.cpp as the installed wheel (and close to
Ollama's) keeps tokenizer handling and tensor layouts in agreement.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

from ftpack.base_model import cache_dir
from ftpack.errors import FtpackError
from ftpack.fsutil import atomic_path

WANTED = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")


def installed_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        raise FtpackError("llama-cpp-python is not installed: run ./install.sh") from None


def converter_dir(version: str | None = None) -> Path:
    return cache_dir() / "llama.cpp" / (version or installed_version())


def ensure_converter(fetch: bool = False) -> Path:
    """The cached converter folder; with fetch=True, download it first if missing."""
    version = installed_version()
    target = converter_dir(version)
    if (target / "convert_hf_to_gguf.py").is_file():
        return target
    if not fetch:
        raise FtpackError(f"llama.cpp's converter for llama-cpp-python {version} is not in {target}: "
                          "run `ftpack setup` once (needs access to PyPI)")
    with tempfile.TemporaryDirectory() as scratch:
        print(f"ftpack: fetching llama-cpp-python {version} sdist for llama.cpp's converter", flush=True)
        fetched = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             f"llama-cpp-python=={version}", "-d", scratch, "--quiet", "--disable-pip-version-check"],
            capture_output=True, text=True)
        sdists = list(Path(scratch).glob("llama_cpp_python-*.tar.gz"))
        if fetched.returncode != 0 or not sdists:
            last = (fetched.stderr.strip().splitlines() or ["no sdist downloaded"])[-1]
            raise FtpackError(f"could not download the llama-cpp-python {version} sdist ({last}); "
                              "check access to PyPI and rerun `ftpack setup`")
        with tarfile.open(sdists[0]) as archive, atomic_path(target) as tmp:
            prefix = re.compile(r"^[^/]+/vendor/llama\.cpp/")
            members = []
            for member in archive.getmembers():
                rel = prefix.sub("", member.name, count=1)
                if rel != member.name and rel.startswith(WANTED) and (member.isfile() or member.isdir()):
                    member.name = rel
                    members.append(member)
            if not any(m.name == "convert_hf_to_gguf.py" for m in members):
                raise FtpackError(f"{sdists[0].name} has no vendor/llama.cpp/convert_hf_to_gguf.py")
            archive.extractall(tmp, members=members, filter="data")
    return target


def supported_architectures(converter: Path) -> list[str]:
    """HF architectures the converter registers (`@ModelBase.register("LlamaForCausalLM", ...)`)."""
    names: set[str] = set()
    pattern = re.compile(r"@ModelBase\.register\(([^)]*)\)")
    for source in [converter / "convert_hf_to_gguf.py", *sorted((converter / "conversion").glob("*.py"))]:
        for match in pattern.finditer(source.read_text("utf-8")):
            names.update(re.findall(r"[\"']([A-Za-z0-9_]+)[\"']", match.group(1)))
    return sorted(names)


def run_script(script: str, args: list[str], what: str) -> None:
    """Run one of llama.cpp's converter scripts with its own gguf-py; one-line error on failure."""
    converter = ensure_converter()
    # llama.cpp's own gguf-py, not the PyPI gguf package: it matches this converter.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(converter / "gguf-py"), str(converter), os.environ.get("PYTHONPATH")) if p)}
    env.pop("NO_LOCAL_GGUF", None)
    done = subprocess.run([sys.executable, str(converter / script), *args], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        lines = [l for l in (done.stderr + done.stdout).strip().splitlines() if l.strip()]
        errors = [l for l in lines if "Error" in l or "error" in l]
        raise FtpackError(f"{what} failed: {(errors or lines or ['no output'])[-1].strip()}")
