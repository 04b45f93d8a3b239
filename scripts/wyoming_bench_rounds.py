"""Interleaved wyoming-bench rounds: Confab's Wyoming server against wyoming-faster-whisper and wyoming-piper.

Run by scripts/wyoming_bench.sh, which starts the servers. wyoming-bench measures one server after another (all of
its rounds, then the next server's), which on a shared machine puts any slow minute on one side only; so each round
here is one `wyoming-bench stt|tts SERVER --rounds 1 --warmup 0 -v` per server, in the order A B then B A, and the
verbose lines (one per measurement) are gathered into medians, p95 and Confab/reference ratios.
"""

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

ap = argparse.ArgumentParser()
ap.add_argument("--bench", required=True, help="the wyoming-bench executable")
ap.add_argument("--work", required=True, help="scratch directory (the STT corpus goes here)")
ap.add_argument("--rounds", type=int, default=7)
ap.add_argument("--voice", default="en_US-joe-medium")
ap.add_argument("--confab", required=True, help="Confab's Wyoming HOST:PORT")
ap.add_argument("--stt-ref", required=True, help="wyoming-faster-whisper HOST:PORT")
ap.add_argument("--tts-ref", required=True, help="wyoming-piper HOST:PORT")
ap.add_argument("--gap", type=float, default=0.3, help="seconds of quiet between two servers' runs (spinning threads settle)")
args = ap.parse_args()

VOICE_CONFIG = json.dumps({"voice": {"name": args.voice}})


async def describe(server: str) -> Info:
    host, port = server.rsplit(":", 1)
    async with AsyncTcpClient(host, int(port)) as client:
        await client.write_event(Describe().event())
        while True:
            event = await client.read_event()
            if event is None:
                raise ConnectionError("closed")
            if Info.is_type(event.type):
                return Info.from_event(event)


def wait_ready(server: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            asyncio.run(asyncio.wait_for(describe(server), 5))
            return
        except (OSError, asyncio.TimeoutError, ConnectionError):
            if time.monotonic() > deadline:
                sys.exit(f"wyoming_bench: {server} did not answer describe within {timeout:.0f} s")
            time.sleep(0.5)


def bench(cmd: list[str]) -> str:
    r = subprocess.run([args.bench, *cmd], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"wyoming_bench: `wyoming-bench {' '.join(cmd)}` failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout


STT_LINE = re.compile(r"^\[(\w+)\] r\d+ (\S+) total=(\d+)ms ttft=\S+ WER=([\d.]+)% audio=([\d.]+)s")
TTS_LINE = re.compile(r"^\[(\w+)\] r\d+ sent=(\d+) ttft=(\d+)ms total=(\d+)ms audio=([\d.]+)s bytes=(\d+)")


def stt_round(server: str, corpus: Path) -> list[dict]:
    out = bench(["stt", server, "--corpus", str(corpus), "--mode", "non_streaming", "--rounds", "1", "--warmup", "0", "-v"])
    rows = [dict(mode=m[1], sample=m[2], total=float(m[3]), wer=float(m[4]), audio=float(m[5]))
            for m in (STT_LINE.match(line) for line in out.splitlines()) if m]
    if not rows or "FAIL" in out:
        sys.exit(f"wyoming_bench: stt against {server} measured nothing or failed:\n{out[-2000:]}")
    return rows


def tts_round(server: str, texts: list[str], mode: str) -> list[dict]:
    out = bench(["tts", server, "--mode", mode, "--config", VOICE_CONFIG, "--texts", *texts,
                 "--rounds", "1", "--warmup", "0", "-v"])
    rows = []
    per_mode: dict[str, int] = {}
    for line in out.splitlines():
        m = TTS_LINE.match(line)
        if m:
            i = per_mode.get(m[1], 0)   # the lines of a mode come in the order of the texts
            per_mode[m[1]] = i + 1
            rows.append(dict(mode=m[1], sample=f"text{i + 1}", sentences=int(m[2]), ttft=float(m[3]), total=float(m[4]), audio=float(m[5])))
    if not rows or "FAIL" in out:
        sys.exit(f"wyoming_bench: tts against {server} measured nothing or failed:\n{out[-2000:]}")
    return rows


def q(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p * (len(xs) - 1))))]


# --- servers up, corpus made ------------------------------------------------------------------------------------
for s in (args.confab, args.stt_ref, args.tts_ref):
    wait_ready(s)

# The built-in texts of wyoming-bench (1-4 sentences), spoken by the reference voice server into the STT corpus, so
# neither side transcribes its own speech.
from wyoming_bench.tts.texts import DEFAULT_TEXTS  # noqa: E402

texts = list(DEFAULT_TEXTS)
corpus = Path(args.work) / "corpus"
bench(["generate-corpus", args.tts_ref, "--out", str(corpus), "--config", VOICE_CONFIG, "--texts", *texts])

STT = {"confab": args.confab, "wyoming-faster-whisper": args.stt_ref}
TTS = {"confab": args.confab, "wyoming-piper": args.tts_ref}
# Confab's Wyoming server does not advertise streaming synthesis (synthesize-start/-chunk/-stop); the comparison is
# the plain `synthesize` event both serve (what Home Assistant sends for a whole reply). wyoming-piper's streaming
# mode is measured too, as a row of its own.
TTS_MODES = {"confab": "non_streaming", "wyoming-piper": "both"}

# Warm-up: models loaded (wyoming-faster-whisper loads on the first request), caches warm. Not counted.
for name, s in STT.items():
    stt_round(s, corpus)
for name, s in TTS.items():
    tts_round(s, texts[:1], TTS_MODES[name])

stt: dict[str, list[dict]] = {n: [] for n in STT}
tts: dict[str, list[dict]] = {n: [] for n in TTS}
t0 = time.monotonic()
for r in range(args.rounds):
    for name in (list(STT) if r % 2 == 0 else list(STT)[::-1]):
        stt[name] += stt_round(STT[name], corpus)
        time.sleep(args.gap)
    for name in (list(TTS) if r % 2 == 0 else list(TTS)[::-1]):
        tts[name] += tts_round(TTS[name], texts, TTS_MODES[name])
        time.sleep(args.gap)
    print(f"  round {r + 1}/{args.rounds} done ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)

# --- report -----------------------------------------------------------------------------------------------------
def by(rows: list[dict], key: str, mode: str, sample: str | None = None) -> list[float]:
    return [x[key] for x in rows if x["mode"] == mode and (sample is None or x["sample"] == sample)]


print(f"\nwyoming-bench, {args.rounds} interleaved rounds, medians (p95) in ms; ratio = Confab / reference (< 1: Confab faster)")
print("\nSTT (transcribe: audio-start … audio-stop → transcript; wall time until the transcript)")
samples = sorted({x["sample"] for x in stt["confab"]})
audio = {x["sample"]: x["audio"] for x in stt["confab"]}
print(f"  {'clip':<12}{'audio s':>8}{'confab':>16}{'faster-whisper':>18}{'ratio':>8}")
for s in samples + [None]:
    c = by(stt["confab"], "total", "non_streaming", s)
    f = by(stt["wyoming-faster-whisper"], "total", "non_streaming", s)
    label = s or "all clips"
    au = f"{audio[s]:.2f}" if s else ""
    print(f"  {label:<12}{au:>8}{statistics.median(c):>9.0f} ({q(c, .95):>4.0f}){statistics.median(f):>11.0f} ({q(f, .95):>4.0f})"
          f"{statistics.median(c) / statistics.median(f):>8.2f}")
for n in STT:
    w = statistics.fmean(x["wer"] for x in stt[n])
    print(f"  WER {n}: {w:.1f}% (mean over clips and rounds)")

print("\nTTS (synthesize → audio-start, audio-chunk…, audio-stop): time to first audio chunk (TTFT) and to the last (total)")
print(f"  {'text':<16}{'confab TTFT':>14}{'piper TTFT':>14}{'ratio':>7}{'confab total':>15}{'piper total':>14}{'ratio':>7}"
      f"{'piper stream TTFT':>19}")
sentences = {x["sample"]: x["sentences"] for x in tts["confab"]}
for s in [f"text{i + 1}" for i in range(len(texts))] + [None]:
    ct, pt = by(tts["confab"], "ttft", "non_streaming", s), by(tts["wyoming-piper"], "ttft", "non_streaming", s)
    cT, pT = by(tts["confab"], "total", "non_streaming", s), by(tts["wyoming-piper"], "total", "non_streaming", s)
    ps = by(tts["wyoming-piper"], "ttft", "streaming", s)
    md = statistics.median
    label = f"{s} ({sentences[s]} sent.)" if s else "all texts"
    print(f"  {label:<16}{md(ct):>7.0f} ({q(ct, .95):>4.0f}){md(pt):>7.0f} ({q(pt, .95):>4.0f}){md(ct) / md(pt):>7.2f}"
          f"{md(cT):>8.0f} ({q(cT, .95):>4.0f}){md(pT):>7.0f} ({q(pT, .95):>4.0f}){md(cT) / md(pT):>7.2f}"
          f"{(f'{md(ps):.0f} ({q(ps, .95):.0f})' if ps else 'n/a'):>19}")
for n in TTS:
    d = [x["audio"] for x in tts[n] if x["mode"] == "non_streaming"]
    print(f"  audio returned by {n}: {statistics.fmean(d):.2f} s per text (mean)")
