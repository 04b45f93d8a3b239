#!/usr/bin/env bash
# Peak resident memory of `confab ask` and of llama.cpp (llama-cpp-python, the same GGUF, context and answer length),
# from /usr/bin/time -v. Dev only. Usage: scripts/llm_memory.sh [question]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=scripts/.venv-llm
Q=${1:-"Explain in two sentences why the sky is blue."}
MODELS=${CONFAB_MODELS:-$HOME/.local/share/confab/models}
swift build -c release -Xswiftc -enable-testing --product confab >/dev/null
peak() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {printf "%.1f MB", $2 / 1024}'; }
for m in qwen2.5-coder-0.5b smollm2-135m; do
  f="$MODELS/$m/model.gguf"
  c=$(peak .build/release/confab ask --model "$m" --threads 2 --ctx 4096 --temperature 0 --max-tokens 64 "$Q")
  l=$(peak "$VENV/bin/python" -c "
import sys; from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=4096, n_threads=2, n_batch=512, verbose=False)
llm.create_chat_completion(messages=[{'role': 'user', 'content': sys.argv[2]}], max_tokens=64, temperature=0)" "$f" "$Q")
  b=$(peak "$VENV/bin/python" -c "import llama_cpp")
  echo "$m ($(du -m "$f" | cut -f1) MB file, ctx 4096, 64-token answer): confab ask $c; llama.cpp (llama-cpp-python) $l, of which Python + import llama_cpp $b"
done
