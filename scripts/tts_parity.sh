#!/usr/bin/env bash
# Parity and speed of Confab's Piper voice against piper-tts + onnxruntime (dev only; never a run-time dependency).
#   scripts/tts_parity.sh [threads...]      (default: 1 2)
# 1. phoneme ids: Confab (system espeak-ng 1.51) vs piper's phonemizer (bundled espeak-ng 1.52) on scripts/tts_sentences.txt
# 2. waveform: the same ids, noise_scale = noise_w = 0, onnxruntime vs Confab: length and correlation
# 3. speed: confab bench tts vs piper on onnxruntime, same text and threads, interleaved, with the ratio
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=scripts/.venv-tts
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q piper-tts onnxruntime onnx numpy
fi
PY="$VENV/bin/python"
CONFAB=${CONFAB:-.build/release/confab}
[ -x "$CONFAB" ] || swift build -c release --product confab
W=$(mktemp -d /tmp/tts_parity.XXXX)
THREADS=("${@:-1 2}"); [ $# -eq 0 ] && THREADS=(1 2)

echo "== phoneme ids vs piper's phonemizer"
"$PY" scripts/tts_reference.py golden scripts/tts_sentences.txt "$W/golden.json"
while IFS= read -r line; do
  [ -n "$line" ] && "$CONFAB" say --piper-exact --phonemes -- "$line" | "$PY" -c 'import sys,json; print(json.dumps([json.loads(l) for l in sys.stdin]))'
done < scripts/tts_sentences.txt > "$W/confab_phonemes.jsonl"
"$PY" - "$W" <<'PYEOF'
import json, sys
W = sys.argv[1]
gold = json.load(open(f"{W}/golden.json"))
mine = [json.loads(l) for l in open(f"{W}/confab_phonemes.jsonl")]
same = 0
for g, m in zip(gold, mine):
    gi = [s["ids"] for s in g["sentences"]]; mi = [s["ids"] for s in m]
    if gi == mi:
        same += 1
    else:
        print(f"  DIFF {g['text']!r}\n    piper : {' | '.join(s['phonemes'] for s in g['sentences'])}\n    confab: {' | '.join(s['phonemes'] for s in m)}")
print(f"  identical ids: {same}/{len(gold)} sentences")
# ids for the waveform check: the first sentence of each of the first 12 texts (piper's ids)
json.dump([g["sentences"][0]["ids"] for g in gold[:12]], open(f"{W}/ids.json", "w"))
PYEOF

echo "== waveform parity (same ids, noise_scale = noise_w = 0)"
"$PY" scripts/tts_reference.py ids "$W"
i=0
for ids in $("$PY" -c 'import json,sys; print(" ".join(",".join(map(str,x)) for x in json.load(open(sys.argv[1]))))' "$W/ids.json"); do
  "$CONFAB" say --phoneme-ids "$ids" --noise-scale 0 --noise-w 0 --raw -o "$W/confab_$i.f32" x
  i=$((i+1))
done
"$PY" - "$W" "$i" <<'PYEOF'
import numpy as np, sys
W, n = sys.argv[1], int(sys.argv[2])
worst = 1.0
for i in range(n):
    r = np.fromfile(f"{W}/ref_{i}.f32", dtype=np.float32); c = np.fromfile(f"{W}/confab_{i}.f32", dtype=np.float32)
    if len(r) != len(c):
        print(f"  sentence {i}: LENGTH differs {len(r)} vs {len(c)}"); worst = 0; continue
    corr = float(np.corrcoef(r, c)[0, 1]); worst = min(worst, corr)
    print(f"  sentence {i}: {len(r)} samples, correlation {corr:.6f}, max |diff| {np.abs(r-c).max():.2e}")
print(f"  worst correlation {worst:.6f} over {n} sentences ({'PASS' if worst >= 0.999 else 'FAIL'} at 0.999)")
PYEOF

[ -n "${SKIP_SPEED:-}" ] && { rm -rf "$W"; exit 0; }
echo "== speed (interleaved, best of 3 per side per round)"
LONG="The quick brown fox jumps over the lazy dog. Speech synthesis turns written text into audio, one sentence at a time. Dr. Smith measured 3.5 seconds of speech, e.g. a short question, in well under a second. Streaming lets the first words play while the rest is still being computed, so a conversation feels natural."
SHORT="Hello! How can I help you today?"
for t in "${THREADS[@]}"; do
  for name in short long; do
    text=$SHORT; [ $name = long ] && text=$LONG
    for round in 1 2; do
      c=$("$CONFAB" bench tts --threads "$t" --runs 3 --json --text "$text")
      r=$(for k in 1 2 3; do "$PY" scripts/tts_reference.py speed "$t" "$text"; done)
      "$PY" - "$c" "$r" "$t" "$name" "$round" <<'PYEOF'
import json, sys
c = json.loads(sys.argv[1])["results"][0]
refs = [json.loads(l) for l in sys.argv[2].splitlines()]
r = min(refs, key=lambda x: x["seconds"])
rtf_r = r["seconds"] / r["audio_s"]; rtf_c = c["rtf"]
print(f"  threads {sys.argv[3]} {sys.argv[4]:5s} round {sys.argv[5]}: RTF confab {rtf_c:.3f} vs onnxruntime {rtf_r:.3f} "
      f"(confab/ort {rtf_c/rtf_r:.2f}x); first audio {c['firstAudioMs']:.0f} ms vs {r['first_ms']:.0f} ms ({c['firstAudioMs']/r['first_ms']:.2f}x)")
PYEOF
    done
  done
done
rm -rf "$W"
