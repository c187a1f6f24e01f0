"""Stage 3: export a training run as an adapter, a merged 16-bit model, and GGUF files.

  RUN_DIR/export/adapter/             the PEFT adapter (a copy of RUN_DIR/adapter)
  RUN_DIR/export/merged/              base + LoRA merged, fp16 (or bf16) safetensors + tokenizer
  RUN_DIR/export/model-f16.gguf       llama.cpp's convert_hf_to_gguf.py of merged/
  RUN_DIR/export/model-<quant>.gguf   llama-cpp-python's llama_model_quantize of the f16 GGUF
                                      (one per quantization asked for; the first is the one served)
  RUN_DIR/export/adapter-f16.gguf     llama.cpp's convert_lora_to_gguf.py (for Ollama's ADAPTER)
  RUN_DIR/export/base-f16.gguf        the base model as GGUF, the FROM for that adapter

Every GGUF is checked: it carries the training chat template and eos id, and llama.cpp tokenizes a
rendered conversation to the same ids as the HF tokenizer. The quantized model answers one test
request in llama.cpp. Sizes, times and sha256s go to RUN_DIR/metrics.json["export"].
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from ftpack import llamacpp, taskapi
from ftpack.config import QUANTS
from ftpack.errors import FtpackError
from ftpack.fsutil import atomic_path, read_json
from ftpack.rundir import finished_run, load_run_base_model, load_run_config, read_run_file, update_metrics

FORMATS = ("adapter", "merged", "gguf")
PARITY_CONVERSATIONS = [
    [{"role": "system", "content": taskapi.SYSTEM_PROMPT},
     {"role": "user", "content": "remind me to call the plumber tomorrow, urgent"}],
    [{"role": "user", "content": "delete task 3"},
     {"role": "assistant", "content": '{"action":"delete_task","task_id":3}'},
     {"role": "user", "content": "and show my open tasks — 日本語 ✅"}],
]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def check_run(run_dir: Path) -> None:
    finished_run(run_dir)
    if not (run_dir / "adapter" / "adapter_config.json").is_file():
        raise FtpackError(f"{run_dir} has no finished adapter (adapter/adapter_config.json): finish or resume "
                          "the training run first (`ftpack train --resume`)")


def check_disk(out_dir: Path, needed: int) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out_dir).free
    if free < needed:
        raise FtpackError(f"not enough disk space in {out_dir}: export needs about {needed / 2**30:.1f} GiB, "
                          f"{free / 2**30:.1f} GiB free; free some space or export fewer formats")


# ------------------------------------------------------------------------------- merged
def merge(base_path: str, adapter_dir: Path, out: Path, dtype_name: str, chat_template: str) -> dict[str, Any]:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # The base is reloaded unquantized (never merged into a 4-bit model, which loses quality) in
    # fp32 so the sum W + BA is exact, then cast once to the 16-bit type that is saved.
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    try:
        model = PeftModel.from_pretrained(base, adapter_dir)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise FtpackError(f"the adapter in {adapter_dir} does not fit the base model {base_path} "
                          f"({str(exc).splitlines()[0][:200]}): export with the base it was trained on") from None
    merged = model.merge_and_unload()
    merged = merged.to({"fp16": torch.float16, "bf16": torch.bfloat16}[dtype_name])
    tokenizer.chat_template = chat_template
    with atomic_path(out) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        # Some tokenizers need files save_pretrained may drop (a SentencePiece tokenizer.model).
        for name in ("tokenizer.model",):
            source = Path(base_path) / name
            if source.is_file() and not (tmp / name).exists():
                shutil.copy2(source, tmp / name)
    return {"path": str(out), "bytes": dir_size(out), "dtype": dtype_name}


# ------------------------------------------------------------------------------- GGUF
def gguf_metadata(path: Path) -> dict[str, Any]:
    """Chat template, special token ids and tensor types, read with llama.cpp's gguf-py reader.

    tensor_types counts tensors per ggml type: K-quants fall back to other types for rows whose
    length is not a multiple of 256 (SmolLM2-135M's 576), so a file's name does not say what is in it.
    """
    from collections import Counter

    from gguf import GGUFReader

    reader = GGUFReader(path)

    def value(key: str) -> Any:
        field = reader.get_field(key)
        return None if field is None else field.contents()

    types = Counter(tensor.tensor_type.name for tensor in reader.tensors)
    return {"architecture": value("general.architecture"), "chat_template": value("tokenizer.chat_template"),
            "eos_token_id": value("tokenizer.ggml.eos_token_id"), "eot_token_id": value("tokenizer.ggml.eot_token_id"),
            "bos_token_id": value("tokenizer.ggml.bos_token_id"), "add_bos_token": value("tokenizer.ggml.add_bos_token"),
            "tensor_types": dict(types.most_common())}


def check_gguf_tokenizer(path: Path, tokenizer: Any, chat_template: str) -> dict[str, Any]:
    """The GGUF must carry the training template and eos, and tokenize like the HF tokenizer."""
    import llama_cpp

    meta = gguf_metadata(path)
    if meta["chat_template"] != chat_template:
        raise FtpackError(f"{path.name}: the embedded chat template differs from the one used in training")
    if meta["eos_token_id"] != tokenizer.eos_token_id:
        raise FtpackError(f"{path.name}: eos token id {meta['eos_token_id']} but the tokenizer's is "
                          f"{tokenizer.eos_token_id} ({tokenizer.eos_token})")
    vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        for conversation in PARITY_CONVERSATIONS:
            text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
            expected = tokenizer(text, add_special_tokens=False)["input_ids"]
            got = vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            if got != expected:
                at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
                raise FtpackError(f"{path.name}: llama.cpp tokenizes the chat prompt differently from the HF "
                                  f"tokenizer (first difference at token {at} of {len(expected)}); the GGUF "
                                  "would not see what the model was trained on")
    finally:
        vocab.close()
    return meta


def convert_to_gguf(model_dir: Path, out: Path, outtype: str = "f16") -> None:
    with atomic_path(out) as tmp:
        llamacpp.run_script("convert_hf_to_gguf.py", [str(model_dir), "--outfile", str(tmp), "--outtype", outtype],
                            f"convert_hf_to_gguf.py on {model_dir}")


@contextlib.contextmanager
def native_output_to(log: Path) -> Iterator[None]:
    """Send what C code (llama.cpp) writes straight to stdout/stderr into `log` for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    # llama-cpp-python's log callback prints to sys.stderr, which need not be fd 2 (e.g. under pytest)
    with log.open("ab") as sink, log.open("a", encoding="utf-8") as text, \
            contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def quantize(source: Path, out: Path, quant: str) -> None:
    """llama.cpp's quantizer; its per-tensor log (hundreds of lines) becomes one summary line."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANTS[quant]
    with atomic_path(out) as tmp:
        log = tmp.parent / "quantize.log"
        with native_output_to(log):
            status = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
        lines = log.read_text("utf-8", errors="replace").splitlines()
        if status != 0:
            last = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
            raise FtpackError(f"llama.cpp could not quantize {source} to {quant} (status {status}): {last}")
    fallback = next((re.search(r"(\d+) of (\d+) tensor", line) for line in lines if "fallback" in line), None)
    note = (f"; {fallback[1]} of {fallback[2]} tensors fell back to other types (K-quants need rows that are a "
            "multiple of 256)" if fallback else "")
    print(f"ftpack: quantized {out.name} ({quant}){note}", flush=True)


def bos_to_strip(tokenizer: Any, gguf: Path) -> str:
    """BOS text to drop from a rendered prompt for llama.cpp when the GGUF makes it add BOS itself."""
    bos = tokenizer.bos_token or ""
    return bos if bos and gguf_metadata(gguf).get("add_bos_token") else ""


class ReplyCap:
    """A llama-cpp-python stopping criterion that ends a reply after `max_tokens` sampled tokens.

    create_completion's own max_tokens is not checked while the reply ends in an incomplete UTF-8
    character (0.3.x skips the check then), so a model that loops on stray byte tokens runs past it
    until the context is full and llama_decode fails. `sampled` counts every sampled token, the
    end-of-turn one included, as Ollama's eval_count does."""

    def __init__(self, max_tokens: int):
        self.max_tokens, self.sampled, self._prompt_length = max_tokens, 0, None

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        if self._prompt_length is None:  # the first call sees the whole prompt, cached prefix included
            self._prompt_length = len(input_ids)
        sampled_before = len(input_ids) - self._prompt_length  # input_ids does not hold this token yet
        self.sampled = min(sampled_before + 1, self.max_tokens)
        return sampled_before >= self.max_tokens

    def criteria(self) -> Any:
        import llama_cpp

        return llama_cpp.StoppingCriteriaList([self])


def smoke_test(path: Path, tokenizer: Any, stop: list[str]) -> dict[str, Any]:
    """Load the GGUF in llama.cpp and answer one test request with the training template."""
    import llama_cpp

    conversation = [{"role": "system", "content": taskapi.SYSTEM_PROMPT},
                    {"role": "user", "content": "remind me to call mom tomorrow"}]
    prompt = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    prompt = prompt.removeprefix(bos_to_strip(tokenizer, path))
    started = time.perf_counter()
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, verbose=False, seed=0)
    try:
        loaded = time.perf_counter()
        out = llm.create_completion(prompt, max_tokens=64, temperature=0.0, stop=stop,
                                    stopping_criteria=ReplyCap(64).criteria())
    finally:
        llm.close()
    return {"request": conversation[-1]["content"], "reply": out["choices"][0]["text"],
            "load_seconds": round(loaded - started, 2), "reply_seconds": round(time.perf_counter() - loaded, 2)}


def _file_record(path: Path, seconds: float) -> dict[str, Any]:
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": sha256(path), "seconds": round(seconds, 1)}


def check_quants(names: Sequence[str]) -> list[str]:
    """The names in llama.cpp's lower case (Q4_K_M is q4_k_m); an unknown one is an error."""
    for name in names:
        if name.lower() not in QUANTS:
            raise FtpackError(f"unknown quantization {name!r}: use one of {', '.join(QUANTS)}")
    return [name.lower() for name in names]


def export(run_dir: str | Path, formats: list[str], quant: str = "q4_k_m", dtype: str = "fp16",
           extra_quants: Sequence[str] = ()) -> dict[str, Any]:
    """Export RUN_DIR; `quant` is the GGUF that later stages serve, `extra_quants` are written beside it."""
    run_dir = Path(run_dir)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise FtpackError(f"unknown export format {', '.join(unknown) or '(none)'}: use any of {', '.join(FORMATS)}")
    quant, *extra_quants = check_quants([quant, *extra_quants])
    if dtype not in ("fp16", "bf16"):
        raise FtpackError(f"unknown merged dtype {dtype!r}: use fp16 or bf16")
    check_run(run_dir)
    base = load_run_base_model(run_dir)
    chat_template = read_run_file(run_dir, "chat_template.jinja")
    out_dir = run_dir / "export"
    if not (Path(base.path) / "config.json").is_file():
        raise FtpackError(f"the base model of {run_dir} is no longer at {base.path}: restore it (for an embedded "
                          "or .gguf base, any `ftpack train` with it converts it again)")
    config = read_json(Path(base.path) / "config.json", "restore the base model")
    if "gguf" in formats:
        converter = llamacpp.ensure_converter()
        supported = llamacpp.supported_architectures(converter)
        architectures = config.get("architectures") or []
        if not set(architectures) & set(supported):
            raise FtpackError(f"llama.cpp cannot convert {', '.join(architectures) or 'this model'} to GGUF; "
                              f"supported architectures include: {', '.join(a for a in supported if a.endswith('ForCausalLM'))}")
    n_params = _count_params(config)
    needed = n_params * 2 * (("merged" in formats or "gguf" in formats) + 2 * ("gguf" in formats)) + 64 * 2**20
    check_disk(out_dir, needed)
    load_run_config(run_dir)  # fails early, with a clear message, on a broken run dir

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "adapter")
    tokenizer.chat_template = chat_template
    stop = finished_run(run_dir)["train"]["stop_tokens"]
    result: dict[str, Any] = {"formats": formats, "quant": quant, "extra_quants": list(extra_quants)}
    total_start = time.perf_counter()

    if "adapter" in formats:
        with atomic_path(out_dir / "adapter") as tmp:
            shutil.copytree(run_dir / "adapter", tmp)
        result["adapter"] = {"path": str(out_dir / "adapter"), "bytes": dir_size(out_dir / "adapter")}

    if "merged" in formats or "gguf" in formats:
        started = time.perf_counter()
        result["merged"] = merge(base.path, run_dir / "adapter", out_dir / "merged", dtype, chat_template)
        result["merged"]["seconds"] = round(time.perf_counter() - started, 1)

    if "gguf" in formats:
        f16 = out_dir / "model-f16.gguf"
        started = time.perf_counter()
        convert_to_gguf(out_dir / "merged", f16)
        result["gguf_f16"] = _file_record(f16, time.perf_counter() - started)
        result["gguf_f16"]["metadata"] = check_gguf_tokenizer(f16, tokenizer, chat_template)
        for name in dict.fromkeys((quant, *extra_quants)):
            if name == "f16":
                record = result["gguf_f16"]
            else:
                quantized = out_dir / f"model-{name}.gguf"
                started = time.perf_counter()
                quantize(f16, quantized, name)
                record = _file_record(quantized, time.perf_counter() - started)
                record["tensor_types"] = check_gguf_tokenizer(quantized, tokenizer, chat_template)["tensor_types"]
            result["gguf" if name == quant else f"gguf_{name}"] = record
        result["gguf"]["smoke_test"] = smoke_test(Path(result["gguf"]["path"]), tokenizer, stop)
        # The LoRA as GGUF, for Ollama's ADAPTER on top of the base model's GGUF.
        started = time.perf_counter()
        adapter_gguf = out_dir / "adapter-f16.gguf"
        with atomic_path(adapter_gguf) as tmp:
            llamacpp.run_script("convert_lora_to_gguf.py",
                                [str(run_dir / "adapter"), "--base", base.path, "--outfile", str(tmp), "--outtype", "f16"],
                                "convert_lora_to_gguf.py")
        result["adapter_gguf"] = _file_record(adapter_gguf, time.perf_counter() - started)
        base_gguf = out_dir / "base-f16.gguf"
        started = time.perf_counter()
        _base_with_template(base.path, out_dir, chat_template, base_gguf)
        result["base_gguf"] = _file_record(base_gguf, time.perf_counter() - started)

    result["seconds"] = round(time.perf_counter() - total_start, 1)
    update_metrics(run_dir, "export", result)
    return result


def _base_with_template(base_path: str, out_dir: Path, chat_template: str, out: Path) -> None:
    """The base model as GGUF with the training template, so FROM base + ADAPTER renders the same."""
    from transformers import AutoTokenizer

    staging = out_dir / ".base-hf"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for item in Path(base_path).iterdir():
            if item.is_file() and not item.name.startswith(("tokenizer", "chat_template", "special_tokens")):
                (staging / item.name).symlink_to(item.resolve())
        tokenizer = AutoTokenizer.from_pretrained(base_path)
        tokenizer.chat_template = chat_template
        tokenizer.save_pretrained(staging)
        if (Path(base_path) / "tokenizer.model").is_file() and not (staging / "tokenizer.model").exists():
            shutil.copy2(Path(base_path) / "tokenizer.model", staging / "tokenizer.model")
        convert_to_gguf(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _count_params(config: dict[str, Any]) -> int:
    """A size estimate for the disk check, from the model config alone."""
    hidden = config.get("hidden_size", 0)
    layers = config.get("num_hidden_layers", 0)
    inter = config.get("intermediate_size", 4 * hidden)
    vocab = config.get("vocab_size", 0)
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings") else 2)
    return embeddings + layers * (4 * hidden * hidden + 3 * hidden * inter)
