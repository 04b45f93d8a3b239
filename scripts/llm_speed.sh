#!/usr/bin/env bash
# Confab vs llama.cpp language-model speed on the same GGUF files and threads, interleaved. Dev only.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CONFAB_LLM_VENV:-scripts/.venv-llm}   # any venv with llama-cpp-python and numpy (e.g. scripts/.venv-llamaserver)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q llama-cpp-python numpy gguf
fi
swift build -c release -Xswiftc -enable-testing --product confab >/dev/null   # not every product: swift-protobuf bundles protoc
exec "$VENV/bin/python" scripts/llm_speed.py "$@"
