"""ftpack: dataset -> LoRA fine-tune -> quantized GGUF -> local Ollama, with a benchmark as proof."""

__version__ = "0.1.0"
