#!/usr/bin/env bash
# Issue 17's busy machine: `confab bench e2e` idle, then beside `stress-ng --cpu 4` (about what a parallel build does
# to a 2-core machine) for a soak, in one run on one machine, with the default models and settings.
#   scripts/busy_soak.sh [MINUTES] [-- extra bench e2e options]     (default 10 minutes; needs stress-ng)
# Writes the JSON of each part to $OUT (default /tmp/busy_soak) and prints a summary: turns answered, first audio
# p50/p95 idle and busy, underruns per 10 turns, the questions that made no turn (with what the conversation reported).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}; shift || true
[ "${1:-}" = "--" ] && shift
out=${OUT:-/tmp/busy_soak}; mkdir -p "$out"
command -v stress-ng >/dev/null || { echo "busy_soak: stress-ng is not installed (apt-get install stress-ng)" >&2; exit 1; }
bin=$(swift build -c release --show-bin-path)/confab
[ -x "$bin" ] || { echo "busy_soak: build confab first (swift build -c release)" >&2; exit 1; }
lscpu | grep -m1 'Model name' >&2 || true

echo "== idle: one round of the questions" >&2
"$bin" bench e2e --rounds 1 --json "$@" > "$out/idle.json"
echo "== beside stress-ng --cpu 4 for $minutes minutes" >&2
stress-ng --cpu 4 --timeout $(( ${minutes%.*} * 60 + 300 ))s --quiet & stress=$!
trap 'kill $stress 2>/dev/null || true' EXIT
sleep 5
"$bin" bench e2e --minutes "$minutes" --json "$@" > "$out/busy.json"
kill $stress 2>/dev/null || true; wait $stress 2>/dev/null || true

python3 - "$out/idle.json" "$out/busy.json" <<'PY'
import json, sys
for name, path in zip(("idle", "busy"), sys.argv[1:]):
    d = json.load(open(path)); s = d["summary"]
    turns = d["answered"]; asked = d["questions"]
    f = lambda k: "%.2f s" % (s[k] / 1000) if s.get(k) is not None else "–"
    print(f"{name:5} priority {d.get('priority','?')}: answered {turns}/{asked} · first audio p50 {f('first_audio_p50_ms')} p95 {f('first_audio_p95_ms')}"
          f" · underruns {d['underruns']} ({10 * d['underruns'] / max(turns, 1):.1f} per 10 turns) · xruns {d['xruns']}")
    for t in d["turns"]:
        if t.get("timings") is None:
            print(f"      no turn for {t['question']} (round {t['round']}): {' · '.join(t.get('trace') or [])}")
PY
