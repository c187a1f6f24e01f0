import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftpack.errors import FtpackError
from ftpack.export import ReplyCap, check_gguf_tokenizer, export, gguf_metadata


def test_every_format_is_written_and_checked(tiny_export, smollm2_tokenizer):
    run_dir, result = tiny_export
    out = Path(run_dir) / "export"
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    merged = out / "merged"
    assert (merged / "model.safetensors").is_file() and (merged / "tokenizer.json").is_file()
    assert json.loads((merged / "config.json").read_text())["dtype"] == "float16"
    for name in ("model-f16.gguf", "model-q4_k_m.gguf", "adapter-f16.gguf", "base-f16.gguf"):
        assert (out / name).read_bytes()[:4] == b"GGUF", name
    assert result["gguf"]["bytes"] < result["gguf_f16"]["bytes"]
    assert len(result["gguf"]["sha256"]) == 64
    meta = gguf_metadata(out / "model-q4_k_m.gguf")
    assert meta["chat_template"] == (Path(run_dir) / "chat_template.jinja").read_text()
    assert meta["eos_token_id"] == smollm2_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert isinstance(result["gguf"]["smoke_test"]["reply"], str)
    assert json.loads((Path(run_dir) / "metrics.json").read_text())["export"]["gguf"]["sha256"] == result["gguf"]["sha256"]
    assert not list(out.glob("*.partial")) and not list(out.glob(".*"))


def test_extra_quantizations_are_written_beside_the_served_one(tiny_export):
    run_dir, result = tiny_export
    assert result["gguf"]["path"].endswith("model-q4_k_m.gguf")
    extra = result["gguf_q4_0"]
    assert Path(extra["path"]).read_bytes()[:4] == b"GGUF" and len(extra["sha256"]) == 64
    assert extra["tensor_types"].get("Q4_0", 0) > 0
    # The tiny model's rows (64) are no multiple of 256: llama.cpp's K-quants fall back to other types.
    assert "Q4_K" not in result["gguf"]["tensor_types"]


def test_q4_gguf_generates_with_the_same_tokens_as_hf(tiny_export, smollm2_tokenizer):
    import llama_cpp

    run_dir, _ = tiny_export
    path = Path(run_dir) / "export" / "model-q4_k_m.gguf"
    conversation = [{"role": "user", "content": "remind me to call mom tomorrow"}]
    prompt = smollm2_tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, verbose=False)
    try:
        assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == \
            smollm2_tokenizer(prompt, add_special_tokens=False)["input_ids"]
        out = llm.create_completion(prompt, max_tokens=8, temperature=0.0)
        assert out["usage"]["completion_tokens"] >= 1
    finally:
        llm.close()


def test_a_reply_of_stray_bytes_stops_at_its_cap(tiny_export, smollm2_tokenizer):
    """llama-cpp-python skips its max_tokens check while a reply ends in an incomplete UTF-8
    character: a model looping on such bytes ran on until the context was full and llama_decode
    failed (a tiny test model did, in the benchmark). ReplyCap ends it at the cap."""
    import llama_cpp
    import numpy as np

    run_dir, _ = tiny_export
    lead_byte = smollm2_tokenizer.convert_tokens_to_ids("\u00f0")  # byte 0xF0 opens a 4-byte character

    def only_lead_bytes(input_ids, scores):
        forced = np.full_like(scores, -np.inf)
        forced[lead_byte] = 0.0
        return forced

    prompt = smollm2_tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                                   add_generation_prompt=True)
    llm = llama_cpp.Llama(model_path=str(Path(run_dir) / "export" / "model-q4_k_m.gguf"), n_ctx=128, verbose=False)
    try:
        assert len(llm.tokenize(prompt.encode(), add_bos=False, special=True)) + 64 < 128
        cap = ReplyCap(64)
        llm.create_completion(prompt, max_tokens=64, temperature=0.0, stopping_criteria=cap.criteria(),
                              logits_processor=llama_cpp.LogitsProcessorList([only_lead_bytes]))
        assert cap.sampled == 64 and llm.n_tokens < 128
    finally:
        llm.close()


def test_merged_model_matches_adapter_on_base(tiny_export, tiny_run):
    """merge_and_unload in fp32 then cast: the merged model predicts what base + adapter predicts."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run_dir, _ = tiny_export
    cfg, _ = tiny_run
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    merged = AutoModelForCausalLM.from_pretrained(Path(run_dir) / "export" / "merged", dtype=torch.float32)
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(cfg.base_model), Path(run_dir) / "adapter")
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, peft(ids).logits, atol=2e-2)


def test_template_mismatch_is_caught(tiny_export, smollm2_tokenizer):
    run_dir, _ = tiny_export
    with pytest.raises(FtpackError, match="chat template differs"):
        check_gguf_tokenizer(Path(run_dir) / "export" / "model-f16.gguf", smollm2_tokenizer, "{{ messages }}")


@pytest.mark.parametrize("args, message", [
    (["/no/such/run"], "run dir not found"),
    (["RUN", "--format", "onnx"], "unknown export format onnx"),
])
def test_bad_export_input_is_one_line(tiny_run, args, message):
    cfg, _ = tiny_run
    args = [cfg.run_dir if a == "RUN" else a for a in args]
    run = subprocess.run([sys.executable, "-m", "ftpack", "export", *args], capture_output=True, text=True)
    assert run.returncode == 2 and message in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_unfinished_run_and_mismatched_adapter(tiny_run, tmp_path, smollm2_tokenizer):
    cfg, _ = tiny_run
    unfinished = tmp_path / "unfinished"
    shutil.copytree(cfg.run_dir, unfinished, ignore=shutil.ignore_patterns("export", "checkpoints"))
    shutil.rmtree(unfinished / "adapter")
    with pytest.raises(FtpackError, match="no finished adapter"):
        export(unfinished, ["merged"])

    from models import build_tiny_llama
    from transformers import LlamaConfig

    other = tmp_path / "other-base"
    build_tiny_llama(other, smollm2_tokenizer)
    config = json.loads((other / "config.json").read_text())
    config.update(hidden_size=96, intermediate_size=160)
    from transformers import LlamaForCausalLM

    LlamaForCausalLM(LlamaConfig(**{k: v for k, v in config.items() if k not in ("architectures", "transformers_version")})).save_pretrained(other)
    mismatched = tmp_path / "mismatched"
    shutil.copytree(cfg.run_dir, mismatched, ignore=shutil.ignore_patterns("export", "checkpoints"))
    base = json.loads((mismatched / "base_model.json").read_text())
    (mismatched / "base_model.json").write_text(json.dumps({**base, "path": str(other)}))
    with pytest.raises(FtpackError, match="does not fit the base model"):
        export(mismatched, ["merged"])
    assert not (mismatched / "export" / "merged").exists()


def test_unsupported_architecture_lists_the_supported_ones(tiny_run, tmp_path):
    cfg, _ = tiny_run
    run = tmp_path / "odd"
    shutil.copytree(cfg.run_dir, run, ignore=shutil.ignore_patterns("export", "checkpoints"))
    base_dir = tmp_path / "odd-base"
    shutil.copytree(cfg.base_model, base_dir)
    config = json.loads((base_dir / "config.json").read_text())
    (base_dir / "config.json").write_text(json.dumps({**config, "architectures": ["TotallyNewForCausalLM"]}))
    base = json.loads((run / "base_model.json").read_text())
    (run / "base_model.json").write_text(json.dumps({**base, "path": str(base_dir)}))
    with pytest.raises(FtpackError, match=r"cannot convert TotallyNewForCausalLM.*LlamaForCausalLM"):
        export(run, ["gguf"])
