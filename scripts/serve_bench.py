"""`confab serve` against its own targets (issue 16), dev only; run by scripts/serve_bench.sh, which starts the server.

(a) A 5-second clip transcribed over HTTP (POST /v1/audio/transcriptions, curl: upload, decode, queue, response all
    in) against the in-process time of the same file, threads and beam (`confab bench asr --beam 5 --runs 1 --json`:
    mel + encode + decode, the model loaded and warmed). Target: HTTP within 10% of in-process.
(b) The first audio bytes of POST /v1/audio/speech for a short sentence, response_format wav and pcm, read with a
    plain http.client so the clock stops at the first sample bytes (after the response headers and, for wav, after
    the 44-byte header), not at the headers. Target: at most 150 ms.
Rounds alternate A B / B A; medians and p95.
"""

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--confab", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--clip", required=True, help="the 5-second clip (16 kHz mono WAV)")
ap.add_argument("--model", default="tiny.en")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--rounds", type=int, default=15)
ap.add_argument("--sentence", default="Hello, how can I help?")
args = ap.parse_args()
URL = f"http://127.0.0.1:{args.port}"


def http_transcribe() -> tuple[float, str]:
    out = subprocess.run(["curl", "-s", "-S", "-w", "\n%{http_code} %{time_total}", "-F", "model=whisper-1",
                          "-F", f"file=@{args.clip}", f"{URL}/v1/audio/transcriptions"],
                         capture_output=True, text=True, check=True).stdout
    body, status = out.rsplit("\n", 1)
    code, t = status.split()
    if code != "200":
        sys.exit(f"serve_bench: transcription answered {code}: {body}")
    return float(t) * 1000, json.loads(body)["text"]


def inprocess_transcribe() -> tuple[float, str]:
    out = subprocess.run([args.confab, "bench", "asr", "--model", args.model, "--beam", "5", "--runs", "1",
                          "--threads", str(args.threads), "--json", args.clip], capture_output=True, text=True, check=True).stdout
    u = json.loads(out)["utterances"][0]
    return float(u["latency_ms"]), u["text"]


def speech(fmt: str) -> tuple[float, float, float, int]:
    """(ms to the response headers, ms to the first audio sample bytes, ms to the end, audio bytes)."""
    body = json.dumps({"model": "tts-1", "input": args.sentence, "voice": "alloy", "response_format": fmt})
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
    conn.connect()
    t0 = time.perf_counter()
    conn.request("POST", "/v1/audio/speech", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    t_head = time.perf_counter()
    if resp.status != 200:
        sys.exit(f"serve_bench: speech answered {resp.status}: {resp.read()[:300]!r}")
    got = b""
    skip = None if fmt == "wav" else 0     # bytes before the first sample: the WAV header, found in the stream
    t_first = None
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        got += chunk
        if skip is None and b"data" in got[:200] and len(got) >= got.index(b"data") + 8:
            skip = got.index(b"data") + 8
        if t_first is None and skip is not None and len(got) > skip:
            t_first = time.perf_counter()
    t_end = time.perf_counter()
    conn.close()
    if t_first is None:
        sys.exit(f"serve_bench: speech ({fmt}) returned no audio")
    return (t_head - t0) * 1000, (t_first - t0) * 1000, (t_end - t0) * 1000, len(got) - (skip or 0)


def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p * (len(xs) - 1))))]


def line(name, xs):
    return f"  {name:<40}{statistics.median(xs):>9.1f}{q(xs, .95):>9.1f}{min(xs):>9.1f}{len(xs):>5}"


# warm-up (not counted): the first request after start pays for cold caches
for _ in range(2):
    http_transcribe(); speech("pcm"); speech("wav")
first_http_text = http_transcribe()[1]
first_inproc_text = inprocess_transcribe()[1]

def inprocess_round() -> float:
    """One process, the clip five times after its warm-up run: the median of the five (ms)."""
    out = subprocess.run([args.confab, "bench", "asr", "--model", args.model, "--beam", "5", "--runs", "1",
                          "--threads", str(args.threads), "--json", args.clip, args.clip, args.clip, args.clip, args.clip],
                         capture_output=True, text=True, check=True).stdout
    return statistics.median(float(u["latency_ms"]) for u in json.loads(out)["utterances"])


# (a) and (b) apart: a speech request right after a transcription shares the cores with its winding down.
http_ms, inproc_ms = [], []
for r in range(args.rounds):
    for o in (["http", "inproc"] if r % 2 == 0 else ["inproc", "http"]):
        if o == "http":
            http_ms.append(http_transcribe()[0])
        else:
            inproc_ms.append(inprocess_round())
    print(f"  (a) round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
tts = {f: {"head": [], "first": [], "end": []} for f in ("wav", "pcm")}
audio_bytes = {}
for r in range(args.rounds * 2):
    for f in (["wav", "pcm"] if r % 2 == 0 else ["pcm", "wav"]):
        h, fi, e, n = speech(f)
        tts[f]["head"].append(h); tts[f]["first"].append(fi); tts[f]["end"].append(e); audio_bytes[f] = n
        time.sleep(0.2)

mh, mi = statistics.median(http_ms), statistics.median(inproc_ms)
print(f"\n(a) {args.clip}: transcription, beam 5, {args.threads} threads, {args.rounds} interleaved rounds (ms)")
print(f"  {'':<40}{'median':>9}{'p95':>9}{'min':>9}{'n':>5}")
print(line("HTTP POST /v1/audio/transcriptions", http_ms))
print(line("in process (confab bench asr, median of 5)", inproc_ms))
paired = [a / b for a, b in zip(http_ms, inproc_ms)]
print(f"  HTTP / in-process: {mh / mi:.3f} (medians), {statistics.median(paired):.3f} (median of the paired rounds)"
      f"  -> target <= 1.10: {'met' if mh / mi <= 1.10 else 'NOT met'}")
print(f"  text over HTTP:   {first_http_text}\n  text in process:  {first_inproc_text}")

print(f"\n(b) POST /v1/audio/speech \"{args.sentence}\", {args.rounds * 2} interleaved rounds (ms from the request sent)")
print(f"  {'':<40}{'median':>9}{'p95':>9}{'min':>9}{'n':>5}")
for f in ("wav", "pcm"):
    print(line(f"{f}: response headers", tts[f]["head"]))
    print(line(f"{f}: first audio bytes", tts[f]["first"]))
    print(line(f"{f}: whole sentence ({audio_bytes[f]} audio bytes)", tts[f]["end"]))
worst = max(q(tts[f]["first"], .95) for f in tts)
best = max(statistics.median(tts[f]["first"]) for f in tts)
print(f"  first audio bytes <= 150 ms: medians {'met' if best <= 150 else 'NOT met'}, p95 {'met' if worst <= 150 else 'NOT met'}")
