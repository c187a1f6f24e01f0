"""The real embedded default, end to end but short: SmolLM2-135M through train, export and llama.cpp."""

import json

import pytest

from ftpack.config import TrainConfig
from ftpack.export import export
from ftpack.train import train

pytestmark = pytest.mark.slow


def test_smollm2_trains_exports_and_answers(tiny_data, tmp_path):
    cfg = TrainConfig(train_file=str(tiny_data / "train.jsonl"), val_file=str(tiny_data / "val.jsonl"),
                      run_dir=str(tmp_path / "smollm2"), max_steps=2, batch_size=2, grad_accum=1, eval_steps=2)
    metrics = train(cfg)
    assert metrics["base_model"] == "smollm2-135m-instruct" and metrics["steps"] == 2
    assert metrics["total_params"] > 130_000_000 and metrics["stop_tokens"] == ["<|im_end|>"]
    result = export(cfg.run_dir, ["merged", "gguf"], "q4_k_m")
    assert 60 * 2**20 < result["gguf"]["bytes"] < 140 * 2**20  # a q4_K_M of 135M parameters
    reply = result["gguf"]["smoke_test"]["reply"]
    assert reply.strip()  # the pretrained instruct model answers something in llama.cpp
    saved = json.loads((tmp_path / "smollm2" / "metrics.json").read_text())
    assert saved["export"]["gguf_f16"]["metadata"]["chat_template"].startswith("{% for message in messages %}")
