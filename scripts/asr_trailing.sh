#!/usr/bin/env bash
# Whisper accuracy against the audio kept after the end of speech (chooses when early recognition starts). Dev only.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d scripts/.asr-utterances ] || { echo "run scripts/asr_parity.sh --skip-speed first (it makes the espeak-ng utterances)"; exit 1; }
[ -x scripts/.venv-asr/bin/python ] || { echo "run scripts/asr_parity.sh first (it makes scripts/.venv-asr)"; exit 1; }
exec scripts/.venv-asr/bin/python scripts/asr_trailing.py "$@"
