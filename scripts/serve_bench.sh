#!/usr/bin/env bash
# `confab serve` against issue 16's targets, dev only: (a) a 5-second clip over HTTP vs the same clip in process,
# (b) the first audio bytes of /v1/audio/speech (wav and pcm). Interleaved rounds, medians and p95 (scripts/serve_bench.py).
# Usage: scripts/serve_bench.sh [--rounds N] [--threads N] [--sentence TEXT]
#        CONFAB=path/to/confab overrides the binary (default .build/release/confab, built when missing).
# Needs curl, sox and python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=15; THREADS=2; SENTENCE="Hello, how can I help?"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2;; --threads) THREADS=$2; shift 2;; --sentence) SENTENCE=$2; shift 2;;
    *) echo "serve_bench: unknown option $1" >&2; exit 2;;
  esac
done
command -v curl >/dev/null || { echo "installing curl"; apt-get install -y curl >/dev/null; }
command -v sox >/dev/null || { echo "installing sox"; apt-get install -y sox >/dev/null; }
CONFAB=${CONFAB:-.build/release/confab}
[ -x "$CONFAB" ] || nice -n 19 swift build -c release --product confab

WORK=$(mktemp -d /tmp/servebench.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$CONFAB" serve --port "$PORT" --asr tiny.en --voice en_US-joe-medium --llm smollm2-135m --threads "$THREADS" --quiet \
  >"$WORK/serve.log" 2>&1 & PID=$!
for _ in $(seq 1 240); do curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null || { echo "serve_bench: confab serve did not start"; cat "$WORK/serve.log"; exit 1; }

# The clip: one spoken request, 16 kHz mono, padded (or cut) to exactly 5.00 s.
curl -sf -H 'Content-Type: application/json' -o "$WORK/said.wav" "http://127.0.0.1:$PORT/v1/audio/speech" \
  -d '{"model":"tts-1","voice":"alloy","input":"Please set a timer for ten minutes, and remind me to take the bread out of the oven."}'
sox -V1 "$WORK/said.wav" "$WORK/said16.wav" rate 16000      # (the streamed WAV's header has no length; sox reads to the end)
sox -V1 "$WORK/said16.wav" "$WORK/clip5.wav" pad 0 5 trim 0 5   # 4.2 s of speech, then silence
echo "confab $(git rev-parse --short HEAD), $(nproc) CPUs, threads $THREADS; clip $(soxi -D "$WORK/clip5.wav") s" >&2
python3 scripts/serve_bench.py --confab "$CONFAB" --port "$PORT" --clip "$WORK/clip5.wav" --threads "$THREADS" \
  --rounds "$ROUNDS" --sentence "$SENTENCE"
