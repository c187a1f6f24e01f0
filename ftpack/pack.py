"""Stage 8: `ftpack pack RUN_DIR`, one portable archive of a finished run for another machine's Ollama.

Train where the GPU is (a Colab T4), serve where the user is (a laptop): the run's Modelfile names
the GGUF by an absolute path of the training machine, so it cannot be used elsewhere. A bundle is

  NAME/NAME-QUANT.gguf   the served GGUF
  NAME/Modelfile         FROM ./NAME-QUANT.gguf: relative, so `ollama create NAME -f Modelfile` works anywhere
  NAME/chat_template.jinja   the training chat template
  NAME/bundle.json       the Modelfile's settings, the GGUF's sha256, and the parity probes rendered with
                         the training tokenizer (so registering needs no HF tokenizer files)
  NAME/bench/            the benchmark report (report.md, report.json, plots), when the run has one
  NAME/run.json, metrics.json   the run's manifest and metrics
  NAME/README.md         the one command that registers it, and the run's figures

in one plain .tar, written atomically. Not gzipped: the GGUF is nearly all of the bytes and
quantized weights are close to random, so gzip would shrink the archive by a few percent at the cost
of a minute of CPU on each side. `ftpack register BUNDLE --name NAME` (the archive or its unpacked
folder) checks the sha256 and template parity like a run's registration.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from ftpack.errors import FtpackError
from ftpack.fsutil import atomic_path
from ftpack.modelfile import ModelfileSpec, build_spec
from ftpack.rundir import read_metrics

BUNDLE_FILE = "bundle.json"
BENCH_FILES = ("report.md", "report.json", "latency.png", "accuracy.png")


def pack(run_dir: str | Path, out: str | Path | None = None, name: str | None = None) -> dict[str, Any]:
    """Write RUN_DIR's bundle as one .tar; returns what went in."""
    run_dir = Path(run_dir)
    name = name or run_dir.resolve().name
    out = Path(out) if out else run_dir.parent / f"{name}.tar"
    spec = build_spec(run_dir)
    metrics = read_metrics(run_dir)
    gguf = Path(spec.gguf)
    gguf_name = f"{name}-{metrics['export']['quant']}.gguf"
    from ftpack.export import sha256

    digest = metrics["export"]["gguf"].get("sha256") or sha256(gguf)
    portable = dataclasses.replace(spec, gguf=f"./{gguf_name}")
    from transformers import AutoTokenizer

    from ftpack.register import parity_prompts

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "adapter")
    tokenizer.chat_template = spec.chat_template
    record = {
        "format": 1, "name": name, "gguf": gguf_name, "sha256": digest, "bytes": gguf.stat().st_size,
        "packed": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source_run": str(run_dir.resolve()),
        "spec": {k: v for k, v in dataclasses.asdict(portable).items() if k not in ("gguf", "adapter")},
        "parity_prompts": parity_prompts(tokenizer, gguf),
    }
    texts = {
        "Modelfile": portable.render(f"Packed by ftpack from {run_dir.resolve()}\n"
                                     "Register: ollama create NAME -f Modelfile (in this folder)"),
        "chat_template.jinja": spec.chat_template,
        BUNDLE_FILE: json.dumps(record, indent=2) + "\n",
        "README.md": readme(name, gguf_name, digest, metrics),
    }
    files = {gguf_name: gguf}
    for extra in ("run.json", "metrics.json"):
        if (run_dir / extra).is_file():
            files[extra] = run_dir / extra
    for report in BENCH_FILES:
        if (run_dir / "bench" / report).is_file():
            files[f"bench/{report}"] = run_dir / "bench" / report
    with atomic_path(out) as tmp:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for arcname, text in texts.items():
                data = text.encode("utf-8")
                info = tarfile.TarInfo(f"{name}/{arcname}")
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
                tar.addfile(info, io.BytesIO(data))
            for arcname, path in files.items():
                tar.add(path, arcname=f"{name}/{arcname}", recursive=False)
    return {"archive": str(out), "bytes": out.stat().st_size, "name": name, "gguf": gguf_name, "sha256": digest,
            "files": sorted([*texts, *files])}


def readme(name: str, gguf_name: str, digest: str, metrics: dict[str, Any]) -> str:
    bench = metrics.get("bench", {})
    accuracy = bench.get("accuracy", {})
    latency = bench.get("latency", {}).get("wall_ms", {})
    train = metrics.get("train", {})
    lines = [
        f"# {name}: a fine-tuned Task API model for Ollama",
        "",
        "Register it (in this folder, with Ollama running):",
        "",
        "```bash",
        f"ollama create {name} -f Modelfile",
        f'ollama run {name} "remind me to call the plumber tomorrow, urgent"',
        "```",
        "",
        f"or, with ftpack installed, which first checks the GGUF's sha256 and that Ollama renders the training "
        f"chat template exactly: `ftpack register {name}.tar --name {name}` (the archive or this folder).",
        "",
        f"- GGUF: `{gguf_name}`, sha256 `{digest}`",
        f"- trained: {train.get('base_model')} with {train.get('backend')} ({train.get('precision')}) on "
        f"{train.get('device')}, val loss {train.get('val_loss')}",
    ]
    if bench:
        lines.append(f"- benchmark ({bench.get('engine')}): task-creation accuracy "
                     f"{accuracy.get('task_creation_accuracy')}, all operations {accuracy.get('all_operations_accuracy')}, "
                     f"p50 {latency.get('p50')} ms, p95 {latency.get('p95')} ms: bench/report.md")
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- register
def safe_extract(archive: Path, into: Path) -> Path:
    """Unpack a bundle archive; returns its one top-level folder."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                parts = Path(member.name).parts
                if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
                    raise FtpackError(f"{archive}: {member.name!r} is not a plain file inside the bundle; "
                                      "not unpacking it")
            tar.extractall(into, members=members)
    except tarfile.TarError as exc:
        raise FtpackError(f"{archive} is not a readable tar archive ({exc}): make it with `ftpack pack RUN_DIR`") from None
    tops = {Path(m.name).parts[0] for m in members}
    if len(tops) != 1:
        raise FtpackError(f"{archive}: a bundle holds one folder, this holds {len(tops)}")
    return into / tops.pop()


def load_bundle(folder: Path) -> tuple[ModelfileSpec, dict[str, Any]]:
    path = folder / BUNDLE_FILE
    if not path.is_file():
        raise FtpackError(f"{folder} is not an ftpack bundle (no {BUNDLE_FILE}): make one with `ftpack pack RUN_DIR`")
    record = json.loads(path.read_text("utf-8"))
    gguf = folder / record["gguf"]
    if not gguf.is_file():
        raise FtpackError(f"{folder}: the bundle's GGUF {record['gguf']} is missing")
    from ftpack.export import sha256

    if sha256(gguf) != record["sha256"]:
        raise FtpackError(f"{gguf}: sha256 differs from the one recorded when it was packed (a damaged copy): "
                          "copy the archive again")
    spec = ModelfileSpec(gguf=str(gguf.resolve()), **record["spec"])
    return spec, record


def register_bundle(bundle: str | Path, name: str, tag: str = "candidate", host: str | None = None) -> dict[str, Any]:
    """Register a bundle (archive or unpacked folder) in Ollama, with the same parity checks as a run."""
    from ftpack.register import register_spec

    bundle = Path(bundle)
    if not bundle.exists():
        raise FtpackError(f"{bundle} not found")
    scratch = None
    try:
        if bundle.is_file():
            scratch = Path(tempfile.mkdtemp(prefix=".ftpack-bundle-", dir=bundle.parent))
            folder = safe_extract(bundle, scratch)
        else:
            folder = bundle
        spec, record = load_bundle(folder)
        result = register_spec(spec, record["parity_prompts"], name, tag, host, {spec.gguf: record["sha256"]})
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return {**result, "bundle": str(bundle)}


def is_bundle(path: str | Path) -> bool:
    path = Path(path)
    return (path.is_file() and tarfile.is_tarfile(path)) or (path / BUNDLE_FILE).is_file()
