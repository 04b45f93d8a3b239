#!/usr/bin/env bash
# Confab's Wyoming server against the usual Home Assistant engines, measured with wyoming-bench (PyPI), dev only.
# Starts wyoming-faster-whisper (tiny.en from Confab's store, CTranslate2 int8, beam 5 as Confab), wyoming-piper (the
# voice files from Confab's store, no download) and `confab serve --wyoming`, all with the same threads, then runs
# wyoming-bench's tts and stt benchmarks against them in interleaved rounds (A B, B A, …) and prints medians, p95
# and Confab/reference ratios (scripts/wyoming_bench_rounds.py).
# Usage: scripts/wyoming_bench.sh [--rounds N] [--threads N] [--model tiny.en] [--voice en_US-joe-medium]
#        CONFAB=path/to/confab overrides the binary (default .build/release/confab, built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=7; THREADS=2; MODEL=tiny.en; VOICE=en_US-joe-medium
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2;; --threads) THREADS=$2; shift 2;;
    --model) MODEL=$2; shift 2;; --voice) VOICE=$2; shift 2;;
    *) echo "wyoming_bench: unknown option $1" >&2; exit 2;;
  esac
done
STORE=${CONFAB_MODELS:-$HOME/.local/share/confab/models}
[ -f "$STORE/$MODEL/model.bin" ] || { echo "wyoming_bench: no CTranslate2 model at $STORE/$MODEL (confab models pull $MODEL)" >&2; exit 1; }
[ -f "$STORE/$VOICE/$VOICE.onnx" ] || { echo "wyoming_bench: no voice at $STORE/$VOICE (confab models pull $VOICE)" >&2; exit 1; }

VENV=scripts/.venv-wyobench
if ! "$VENV/bin/python" -c "import wyoming_bench, wyoming_faster_whisper, wyoming_piper" 2>/dev/null; then
  echo "==> installing wyoming-bench, wyoming-faster-whisper, wyoming-piper into $VENV" >&2
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check wyoming-bench wyoming-faster-whisper wyoming-piper
fi
CONFAB=${CONFAB:-.build/release/confab}
[ -x "$CONFAB" ] || nice -n 19 swift build -c release --product confab

WORK=$(mktemp -d /tmp/wyobench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_FW=$(free_port); P_PIPER=$(free_port); P_CONFAB=$(free_port)

# The reference servers: model and voice from Confab's store, never from the network.
"$VENV/bin/wyoming-faster-whisper" --uri "tcp://127.0.0.1:$P_FW" --model "$STORE/$MODEL" --data-dir "$WORK/fw" \
  --stt-library faster-whisper --compute-type int8 --beam-size 5 --cpu-threads "$THREADS" --language en \
  --local-files-only >"$WORK/fw.log" 2>&1 & PIDS+=($!)
"$VENV/bin/wyoming-piper" --uri "tcp://127.0.0.1:$P_PIPER" --voice "$VOICE" --data-dir "$STORE/$VOICE" \
  --local-files-only >"$WORK/piper.log" 2>&1 & PIDS+=($!)
# Confab: the same model, voice and threads (the smallest language model, which the Wyoming side never uses).
"$CONFAB" serve --port 0 --wyoming "127.0.0.1:$P_CONFAB" --asr "$MODEL" --voice "$VOICE" --llm smollm2-135m \
  --threads "$THREADS" --quiet >"$WORK/confab.log" 2>&1 & PIDS+=($!)

echo "confab: $("$CONFAB" --version 2>/dev/null || echo "$CONFAB") at $(git rev-parse --short HEAD); $(nproc) CPUs; threads $THREADS" >&2
"$VENV/bin/python" scripts/wyoming_bench_rounds.py --bench "$VENV/bin/wyoming-bench" --work "$WORK" --rounds "$ROUNDS" \
  --voice "$VOICE" --confab "127.0.0.1:$P_CONFAB" --stt-ref "127.0.0.1:$P_FW" --tts-ref "127.0.0.1:$P_PIPER" \
  || { echo "--- server logs" >&2; tail -n 20 "$WORK"/*.log >&2; exit 1; }
