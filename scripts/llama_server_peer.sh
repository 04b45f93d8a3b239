#!/usr/bin/env bash
# Confab's remote client (--llm-url) against llama.cpp's OpenAI-compatible server (llama-cpp-python[server],
# from PyPI, built into scripts/.venv-llamaserver), serving the same GGUF Confab runs locally.
#   scripts/llama_server_peer.sh [MODEL]   (default smollm2-135m; a store name)
# Prints each check; exits 1 on the first that fails. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-smollm2-135m}"
venv=scripts/.venv-llamaserver
bin="$(swift build -c release --show-bin-path 2>/dev/null)/confab"
[ -x "$bin" ] || { echo "build confab first (swift build -c release --product confab)" >&2; exit 1; }
if ! "$venv/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
  python3 -m venv "$venv"
  echo "==> building llama-cpp-python[server] (several minutes)" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "llama-cpp-python[server]"
fi
gguf="$("$bin" models path "$model")"
[ -f "$gguf" ] || gguf="$(ls "$gguf"/*.gguf | head -1)"
port=$(( 20000 + RANDOM % 20000 ))
log="$(mktemp)"
"$venv/bin/python" -m llama_cpp.server --model "$gguf" --model_alias "$model" --host 127.0.0.1 --port "$port" \
  --n_ctx 2048 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null && break; sleep 0.5; done
url="http://127.0.0.1:$port/v1"
echo "llama.cpp server up: $url ($gguf)"

answer="$("$bin" ask --llm-url "$url" --llm-model "$model" --max-tokens 24 --temperature 0 "What is the capital of France?")"
[ -n "${answer// /}" ] || { echo "FAIL: empty answer" >&2; exit 1; }
echo "ok: ask (streamed): $answer"
json="$("$bin" ask --json --llm-url "$url" --max-tokens 24 --temperature 0 "Name a color.")"
echo "ok: ask --json, model from /v1/models: $json" | tr '\n' ' '; echo
turns="$(printf 'Hi, my name is Ada.\nWhat is my name?\n' | "$bin" chat --llm-url "$url" --llm-model "$model" --max-tokens 24 --temperature 0)"
echo "ok: chat, two turns: $(echo "$turns" | tr '\n' '|')"
# A wrong model name: llama-cpp-python serves whatever is loaded, or refuses: either way one line.
if out="$("$bin" ask --llm-url "http://127.0.0.1:$port/nope/v1" --llm-model "$model" "Hi" 2>&1)"; then
  echo "FAIL: a wrong URL answered: $out" >&2; exit 1
fi
[ "$(echo "$out" | wc -l)" -eq 1 ] || { echo "FAIL: not one line: $out" >&2; exit 1; }
echo "ok: wrong URL → $out"
kill $server; wait $server 2>/dev/null || true
if out="$("$bin" ask --llm-url "$url" --llm-model "$model" --llm-connect-timeout 2 "Hi" 2>&1)"; then
  echo "FAIL: a stopped server answered" >&2; exit 1
fi
echo "ok: server stopped → $out"
echo "all checks passed"
