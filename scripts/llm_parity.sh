#!/usr/bin/env bash
# Greedy parity of Confab's language model with llama.cpp (llama-cpp-python, built from source by pip; ~8 min
# on 2 cores the first time). Dev only: llama.cpp never becomes a run-time dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=scripts/.venv-llm
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import llama_cpp, numpy" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q llama-cpp-python numpy gguf
fi
swift build -c release -Xswiftc -enable-testing --product confab >/dev/null   # not every product: swift-protobuf bundles protoc
exec "$VENV/bin/python" scripts/llm_parity.py "$@"
