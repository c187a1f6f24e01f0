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

import datetime as dt
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ftpack import taskapi
from ftpack.config import MODEL_NAME_PATTERN, TAG_PATTERN
from ftpack.errors import FtpackError
from ftpack.modelfile import ModelfileSpec, build_spec
from ftpack.ollama_host import base_url, server_version
from ftpack.rundir import read_metrics, update_metrics

MIN_OLLAMA = (0, 5, 5)  # /api/create with files, template, system, parameters
PARITY_CONVERSATIONS = [
    [{"role": "system", "content": taskapi.system_prompt(dt.date(2026, 11, 21))},
     {"role": "user", "content": "remind me to call the plumber tomorrow, urgent"}],
    [{"role": "system", "content": taskapi.system_prompt(dt.date(2027, 2, 3))},
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


def parity(client: Any, model: str, tokenizer: Any, gguf: Path) -> list[dict[str, Any]]:
    """Check every probe conversation; returns per-probe figures, raises FtpackError on a mismatch.

    The training template's rendering goes to /api/generate raw; the same conversation goes to
    /api/chat through the Modelfile TEMPLATE. Equal prompt token counts and equal replies mean the
    TEMPLATE renders what the model was trained on. The HF token count is recorded beside them:
    when it differs from Ollama's count of the very same text, Ollama's tokenizer (not the
    template) disagrees with the one used in training.
    """
    from ftpack.export import bos_to_strip

    strip = bos_to_strip(tokenizer, gguf)  # read once: it maps the whole GGUF
    results = []
    for i, conversation in enumerate(PARITY_CONVERSATIONS, 1):
        text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        hf_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        raw_prompt = text.removeprefix(strip)
        for attempt in range(2):  # the harness build is not bit-for-bit deterministic: one retry
            chat = client.chat(model=model, messages=conversation, options=PARITY_OPTIONS)
            raw = client.generate(model=model, prompt=raw_prompt, raw=True, options=PARITY_OPTIONS)
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
        results.append({"probe": i, "ollama_prompt_tokens": chat.prompt_eval_count, "hf_prompt_tokens": hf_tokens,
                        "tokenizer_agrees": chat.prompt_eval_count == hf_tokens, "reply": chat.message.content})
    return results


def register(run_dir: str | Path, name: str, tag: str = "candidate", adapter: bool = False,
             template_file: str | None = None, host: str | None = None) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if not re.fullmatch(MODEL_NAME_PATTERN, name):
        raise FtpackError(f"model name {name!r}: use letters, digits, '.', '_', '-' (and at most one '/'); "
                          "the tag goes in --tag")
    if not re.fullmatch(TAG_PATTERN, tag):
        raise FtpackError(f"tag {tag!r}: use up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
    base_url(host)  # a malformed address is reported before any work
    spec = build_spec(run_dir, template_file, adapter)
    client, version = connect(host)
    export = read_metrics(run_dir)["export"]
    known = {item["path"]: item.get("sha256") for item in export.values() if isinstance(item, dict) and "path" in item}
    digests, uploaded = {}, []
    for role, path in (("model", spec.gguf), ("adapter", spec.adapter)):
        if path:
            digests[role], sent = upload(client, host, path, known.get(path) or known.get(str(Path(path))))
            if sent:
                uploaded.append(path)

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "adapter")
    tokenizer.chat_template = spec.chat_template
    probe = f"{name}:ftpack-parity"
    create(client, probe, spec, digests)
    model = f"{name}:{tag}"
    import ollama

    try:
        try:
            checks = parity(client, probe, tokenizer, Path(spec.gguf))
        except ollama.ResponseError as exc:
            hint = (" (this Ollama build may not run LoRA adapters: its new engine has none yet; register the "
                    "merged model, without --adapter)" if adapter else "")
            raise FtpackError(f"Ollama could not run the model: {exc.error}{hint}") from None
        create(client, model, spec, digests)  # before the probe goes: deleting it prunes unused blobs
    finally:
        client.delete(probe)
    result = {"model": model, "ollama": version, "host": base_url(host), "family": spec.family,
              "digests": digests, "uploaded": uploaded, "parity": checks, "adapter": adapter,
              "template": spec.template, "stop": spec.stop, "parameters": spec.parameters}
    update_metrics(run_dir, "register", result)
    return result


def promote(name: str, source_tag: str = "candidate", target_tag: str = "latest", host: str | None = None) -> str:
    client, _ = connect(host)
    client.copy(f"{name}:{source_tag}", f"{name}:{target_tag}")
    return f"{name}:{target_tag}"


def ask(model: str, request: str, host: str | None = None, today: dt.date | None = None) -> str:
    """One Task API request through /api/chat, with today's date in the system message."""
    client, _ = connect(host)
    reply = client.chat(model=model, messages=[
        {"role": "system", "content": taskapi.system_prompt(today or dt.date.today())},
        {"role": "user", "content": request}], options={"temperature": 0})
    return reply.message.content
