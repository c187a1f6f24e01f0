"""Stage 5: register a run's GGUF in the local Ollama, after proving template parity on the server.

Through the official `ollama` client: upload each GGUF as a blob (skipped when the server already
has that digest), create a probe model, check parity, then create NAME:TAG from the same blobs and
drop the probe. Parity, for each probe conversation (system + user; multi-turn):
  1. Ollama's /api/chat evaluates exactly as many prompt tokens as the HF tokenizer makes of
     apply_chat_template(add_generation_prompt=True), and
  2. /api/chat and /api/generate with raw=True on the HF-rendered prompt give the same reply
     (temperature 0), i.e. the Modelfile TEMPLATE rendered what the model was trained on.
A mismatch refuses the registration.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ftpack import taskapi
from ftpack.config import MODEL_NAME_PATTERN, TAG_PATTERN
from ftpack.errors import FtpackError
from ftpack.modelfile import ModelfileSpec, build_spec
from ftpack.ollama_host import base_url, server_version
from ftpack.rundir import export_path, read_metrics, update_metrics

MIN_OLLAMA = (0, 5, 5)  # /api/create with files, template, system, parameters
PARITY_CONVERSATIONS = [
    [{"role": "system", "content": taskapi.SYSTEM_PROMPT},
     {"role": "user", "content": "remind me to call the plumber tomorrow, urgent"}],
    [{"role": "system", "content": taskapi.SYSTEM_PROMPT},
     {"role": "user", "content": "delete task 3"},
     {"role": "assistant", "content": '{"action":"delete_task","task_id":3}'},
     {"role": "user", "content": "and show my open tasks"}],
]
PARITY_OPTIONS = {"temperature": 0, "seed": 0, "num_predict": 8, "top_k": 1}


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("-")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def connect(host: str | None = None):
    """An ollama.Client for a server that answers and is new enough; else a one-line error."""
    import ollama

    version = server_version(host)
    if _version_tuple(version) < MIN_OLLAMA:
        raise FtpackError(f"Ollama {version} at {base_url(host)} is too old: ftpack needs "
                          f"{'.'.join(map(str, MIN_OLLAMA))} or newer (update Ollama)")
    return ollama.Client(host=base_url(host)), version


def has_blob(host: str, digest: str) -> bool:
    request = urllib.request.Request(f"{base_url(host)}/api/blobs/{digest}", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status == 200
    except urllib.error.HTTPError:
        return False


def upload(client: Any, host: str | None, path: str, sha256: str | None = None) -> tuple[str, bool]:
    """(digest, uploaded): the blob is sent only if the server lacks it."""
    if sha256:
        digest = f"sha256:{sha256}"
        if has_blob(host, digest):
            return digest, False
    return client.create_blob(path), True


def create(client: Any, model: str, spec: ModelfileSpec, digests: dict[str, str]) -> None:
    import ollama

    try:
        client.create(model=model, files={Path(spec.gguf).name: digests["model"]},
                      adapters={Path(spec.adapter).name: digests["adapter"]} if spec.adapter else None,
                      template=spec.template, system=spec.system, license=spec.license,
                      parameters={"stop": spec.stop, **spec.parameters})
    except ollama.ResponseError as exc:
        raise FtpackError(f"Ollama refused to create {model}: {exc.error}") from None


def parity_prompts(tokenizer: Any, gguf: Path) -> list[dict[str, Any]]:
    """Each probe conversation with the training template's rendering as llama.cpp should get it
    (raw), and the HF token count of that rendering. A bundle stores these, so that registering it
    needs no HF tokenizer files (ftpack/pack.py)."""
    from ftpack.export import bos_to_strip

    strip = bos_to_strip(tokenizer, gguf)  # read once: it maps the whole GGUF
    prompts = []
    for conversation in PARITY_CONVERSATIONS:
        text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        prompts.append({"messages": conversation, "raw_prompt": text.removeprefix(strip),
                        "hf_tokens": len(tokenizer(text, add_special_tokens=False)["input_ids"])})
    return prompts


def parity(client: Any, model: str, prompts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check every probe conversation; returns per-probe figures, raises FtpackError on a mismatch.

    The training template's rendering goes to /api/generate raw; the same conversation goes to
    /api/chat through the Modelfile TEMPLATE. Equal prompt token counts and equal replies mean the
    TEMPLATE renders what the model was trained on. The HF token count is recorded beside them:
    when it differs from Ollama's count of the very same text, Ollama's tokenizer (not the
    template) disagrees with the one used in training.
    """
    results = []
    for i, prompt in enumerate(prompts, 1):
        for attempt in range(2):  # the harness build is not bit-for-bit deterministic: one retry
            chat = client.chat(model=model, messages=prompt["messages"], options=PARITY_OPTIONS)
            raw = client.generate(model=model, prompt=prompt["raw_prompt"], raw=True, options=PARITY_OPTIONS)
            if chat.prompt_eval_count != raw.prompt_eval_count:
                raise FtpackError(
                    f"template parity failed on probe {i}: Ollama's TEMPLATE gives {chat.prompt_eval_count} prompt "
                    f"tokens where the training template's prompt gives {raw.prompt_eval_count}; the Modelfile would "
                    "not render what the model was trained on (fix the template or pass --template FILE)")
            if raw.response == chat.message.content:
                break
        else:
            raise FtpackError(f"template parity failed on probe {i}: the reply through Ollama's TEMPLATE "
                              f"({chat.message.content!r}) differs from the reply to the training template's "
                              f"prompt ({raw.response!r})")
        results.append({"probe": i, "ollama_prompt_tokens": chat.prompt_eval_count, "hf_prompt_tokens": prompt["hf_tokens"],
                        "tokenizer_agrees": chat.prompt_eval_count == prompt["hf_tokens"],
                        "reply": chat.message.content})
    return results


def check_name(name: str, tag: str = "candidate", host: str | None = None) -> None:
    """Name, tag and host checked locally, before any work or upload."""
    if not re.fullmatch(MODEL_NAME_PATTERN, name):
        raise FtpackError(f"model name {name!r}: use letters, digits, '.', '_', '-' (and at most one '/'); "
                          "the tag goes in --tag")
    if not re.fullmatch(TAG_PATTERN, tag):
        raise FtpackError(f"tag {tag!r}: use up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
    base_url(host)  # a malformed address is reported before any work


def drop(client: Any, probe: str) -> None:
    """Unload the probe, then delete it. Ollama reuses a loaded runner for another model with the same
    weights and options and lists it under the first name: a probe left loaded would hold the memory,
    and the candidate's warm-up would run in the probe's runner instead of loading the candidate."""
    import ollama

    try:
        client.generate(model=probe, prompt="", keep_alive=0)
    except ollama.ResponseError:
        pass  # the model never loaded (it failed to run): nothing to unload
    client.delete(probe)


def warm_up(client: Any, model: str) -> float:
    """One short request, so that the first real call finds the model loaded and the constant
    system prompt already cached, instead of paying a cold start (load + full prompt)."""
    started = time.perf_counter()
    client.chat(model=model, messages=[{"role": "system", "content": taskapi.SYSTEM_PROMPT},
                                       {"role": "user", "content": "show my tasks"}],
                options={"temperature": 0, "num_predict": 1})
    return round((time.perf_counter() - started) * 1000, 1)


def register_spec(spec: ModelfileSpec, prompts: list[dict[str, Any]], name: str, tag: str = "candidate",
                  host: str | None = None, known_sha256: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Upload the spec's GGUF(s), prove parity on a probe model, then create NAME:TAG."""
    check_name(name, tag, host)
    client, version = connect(host)
    known = known_sha256 or {}
    digests, uploaded = {}, []
    for role, path in (("model", spec.gguf), ("adapter", spec.adapter)):
        if path:
            digests[role], sent = upload(client, host, path, known.get(path) or known.get(str(Path(path))))
            if sent:
                uploaded.append(path)
    probe = f"{name}:ftpack-parity"
    create(client, probe, spec, digests)
    model = f"{name}:{tag}"
    import ollama

    try:
        try:
            checks = parity(client, probe, prompts)
        except ollama.ResponseError as exc:
            hint = (" (this Ollama build may not run LoRA adapters: its new engine has none yet; register the "
                    "merged model, without --adapter)" if spec.adapter else "")
            raise FtpackError(f"Ollama could not run the model: {exc.error}{hint}") from None
        create(client, model, spec, digests)  # before the probe goes: deleting it prunes unused blobs
    finally:
        drop(client, probe)
    return {"model": model, "ollama": version, "host": base_url(host), "family": spec.family,
            "warm_up_ms": warm_up(client, model),
            "digests": digests, "uploaded": uploaded, "parity": checks, "adapter": bool(spec.adapter),
            "template": spec.template, "stop": spec.stop, "parameters": spec.parameters}


def register(run_dir: str | Path, name: str, tag: str = "candidate", adapter: bool = False,
             template_file: str | None = None, host: str | None = None, record: bool = True) -> dict[str, Any]:
    """Register the run's GGUF as NAME:TAG; `record` notes it in the run's metrics (benchmarks that register
    into a scratch server of their own pass False, so the run keeps naming the user's model)."""
    run_dir = Path(run_dir)
    check_name(name, tag, host)
    spec = build_spec(run_dir, template_file, adapter)
    connect(host)  # an unreachable server is reported before the tokenizer is loaded
    export = read_metrics(run_dir)["export"]
    # keyed as build_spec names the files (resolved), so that no digest export made is computed again
    known = {str(export_path(run_dir, item).resolve()): item.get("sha256")
             for item in export.values() if isinstance(item, dict) and "path" in item}

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "adapter")
    tokenizer.chat_template = spec.chat_template
    result = register_spec(spec, parity_prompts(tokenizer, Path(spec.gguf)), name, tag, host, known)
    if record:
        update_metrics(run_dir, "register", result)
    return result


def promote(name: str, source_tag: str = "candidate", target_tag: str = "latest", host: str | None = None) -> str:
    client, _ = connect(host)
    client.copy(f"{name}:{source_tag}", f"{name}:{target_tag}")
    return f"{name}:{target_tag}"


def ask(model: str, request: str, host: str | None = None) -> str:
    """One Task API request through /api/chat, with the training system prompt."""
    client, _ = connect(host)
    reply = client.chat(model=model, messages=[
        {"role": "system", "content": taskapi.SYSTEM_PROMPT},
        {"role": "user", "content": request}], options={"temperature": 0})
    return reply.message.content
