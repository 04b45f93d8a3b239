#!/usr/bin/env bash
# Parity and speed of Confab's Whisper against faster-whisper (dev only; never a run-time dependency).
# Usage: scripts/asr_parity.sh [--model tiny.en|base|DIR] [--threads N] [--rounds N] [--margins 100,200] [--skip-speed] [--beam5]
#        [--variant NAME=FLAGS ...] [--variant-beam 5]   (transcripts of other `confab transcribe` settings vs faster-whisper and the truth)
#        [--precision f32|mixed|int8|bf16 ...]   (transcripts per precision; the first is the one timed)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=scripts/.venv-asr
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -c "import faster_whisper" 2>/dev/null || "$VENV/bin/python" -m pip install -q faster-whisper
command -v espeak-ng >/dev/null || { echo "installing espeak-ng"; apt-get install -y espeak-ng >/dev/null; }
command -v sox >/dev/null || { echo "installing sox"; apt-get install -y sox >/dev/null; }
[ -x .build/release/confab ] || swift build -c release --product confab
exec "$VENV/bin/python" scripts/asr_parity.py "$@"
