"""Tiny models built offline for the pipeline tests: real tokenizer (SmolLM2's), random weights."""

from __future__ import annotations

from pathlib import Path

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def smollm2_tokenizer():
    from transformers import AutoTokenizer

    from ftpack.base_model import embedded_gguf

    gguf = embedded_gguf("smollm2-135m-instruct")
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def llama3_style_tokenizer():
    """SmolLM2's vocabulary with Llama 3's turn tokens and template."""
    tokenizer = smollm2_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]})
    tokenizer.chat_template = LLAMA3_TEMPLATE
    return tokenizer


# family -> (bos, eos, other special tokens); the template is modelfiles/templates/<family>.jinja
FAMILY_TOKENS = {
    "chatml": (None, None, []),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>", ["<|start_header_id|>", "<|end_header_id|>"]),
    "gemma": ("<bos>", "<end_of_turn>", ["<start_of_turn>"]),
    "mistral": ("<s>", "</s>", ["[INST]", "[/INST]"]),
    "phi3": (None, "<|end|>", ["<|system|>", "<|user|>", "<|assistant|>"]),
}


def family_tokenizer(family: str):
    """SmolLM2's vocabulary with one chat family's special tokens and reference template."""
    from ftpack.modelfile import TEMPLATES_DIR

    tokenizer = smollm2_tokenizer()
    bos, eos, others = FAMILY_TOKENS[family]
    tokens = {"additional_special_tokens": others}
    if bos:
        tokens["bos_token"] = bos
    if eos:
        tokens["eos_token"] = eos
    tokenizer.add_special_tokens(tokens)
    tokenizer.chat_template = (TEMPLATES_DIR / f"{family}.jinja").read_text()
    return tokenizer


def build_tiny_llama(out: Path, tokenizer, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def tiny_config(tiny_model, tiny_data, run_dir, **overrides):
    """Training settings that make the tiny model learn visibly in 8 steps."""
    from ftpack.config import TrainConfig

    values = dict(base_model=str(tiny_model), train_file=str(tiny_data / "train.jsonl"),
                  val_file=str(tiny_data / "val.jsonl"), run_dir=str(run_dir), learning_rate=1e-2,
                  batch_size=4, grad_accum=1, max_steps=8, logging_steps=1, eval_steps=4, save_steps=2,
                  save_total_limit=10, lora_r=8, lora_alpha=16)
    return TrainConfig(**{**values, **overrides})
