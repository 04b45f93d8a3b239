"""Compare Confab's Whisper with faster-whisper on espeak-ng utterances: transcripts (greedy, float32,
temperature 0) and speed (interleaved, same threads). Run through scripts/asr_parity.sh."""
import argparse, json, os, re, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--model", default="tiny.en")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--margins", default="100,300", help="encoder margins (frames) to check against the full window")
ap.add_argument("--skip-speed", action="store_true")
ap.add_argument("--beam5", action="store_true", help="also compare beam search (beam 5, temperature 0)")
ap.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS",
                help="also compare `confab transcribe FLAGS` (e.g. 'no-ts=--no-timestamp-tokens'), at --variant-beam, with faster-whisper and the truth")
ap.add_argument("--variant-beam", type=int, default=5)
ap.add_argument("--speed-max-seconds", type=float, default=10.0)
ap.add_argument("--speed-limit", type=int, default=0, help="time only the first N short utterances (0 = all)")
ap.add_argument("--precision", action="append", default=[],
                help="also compare `confab transcribe --precision P` (greedy) with faster-whisper float32 and the truth; "
                     "the first one given is also the one timed (default: Confab's default for this CPU)")
args = ap.parse_args()

CONFAB = os.path.abspath(".build/release/confab")
models_root = os.environ.get("CONFAB_MODELS", os.path.join(os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share")), "confab/models"))
model_dir = args.model if os.path.isdir(args.model) else os.path.join(models_root, args.model)
out_dir = "scripts/.asr-utterances"
os.makedirs(out_dir, exist_ok=True)

SENTENCES = [
    "What time is it?", "Turn off the lights in the kitchen.", "What is the weather like tomorrow?",
    "Set a timer for ten minutes.", "How do I list files in a directory?", "Remind me to call my mother at six.",
    "Play some relaxing music.", "What is the capital of France?", "How far away is the moon?",
    "Open the terminal and run the tests.", "Can you explain how a hash table works?", "Tell me a joke about computers.",
    "Convert fifty degrees Fahrenheit to Celsius.", "Who wrote the novel Pride and Prejudice?", "Please read my new messages.",
    "How many ounces are in a pound?", "Stop.", "Yes, please do that.", "No, cancel the last command.",
    "Search the web for cheap flights to London.", "What is the square root of one hundred forty four?",
    "Translate good morning into Spanish.", "Schedule a meeting with the team on Friday afternoon.",
    "Why is the sky blue?", "How do I undo the last git commit?", "Write a short poem about the sea.",
    "The quick brown fox jumps over the lazy dog.", "Add milk, eggs and bread to my shopping list.",
    "What's the difference between a process and a thread?", "Good night.",
    "Can you summarize the main points of the article I just opened in the browser, and then save them to a file?",
    "I would like to know how long it takes to drive from Berlin to Munich if the traffic is heavy on a Friday evening.",
]
VOICES = ["en-us+m3", "en-us+f2", "en-gb", "en-us+m1", "en+f3", "en-gb-x-rp", "en-us+m7", "en+f4"]
SPEEDS = [150, 175, 130, 190, 160]

items = []
for i, text in enumerate(SENTENCES):
    voice, speed = VOICES[i % len(VOICES)], SPEEDS[i % len(SPEEDS)]
    path = os.path.join(out_dir, f"u{i:02d}.wav")
    if not os.path.exists(path):
        raw = path + ".raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, text], check=True)
        subprocess.run(["sox", raw, "-r", "16000", "-b", "16", "-c", "1", path], check=True)
        os.remove(raw)
    items.append((path, text, voice, speed))

import numpy as np
from faster_whisper import WhisperModel, decode_audio

def norm(s):
    return re.sub(r"[^a-z0-9' ]+", " ", s.lower()).split()

def wer(ref, hyp):
    r, h = norm(ref), norm(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)], max(len(r), 1)

def corpus_wer(refs, hyps):
    e = n = 0
    for r, h in zip(refs, hyps):
        a, b = wer(r, h); e += a; n += b
    return 100.0 * e / n

audio = {p: decode_audio(p) for p, *_ in items}
durations = {p: len(a) / 16000 for p, a in audio.items()}

fw32 = WhisperModel(model_dir, device="cpu", compute_type="float32", cpu_threads=args.threads)
def fw_text(m, p):
    segs, _ = m.transcribe(audio[p], beam_size=1, temperature=0.0, vad_filter=False)
    return "".join(s.text for s in segs).strip()

ref = [fw_text(fw32, p) for p, *_ in items]
fw8 = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=args.threads)
ref8 = [fw_text(fw8, p) for p, *_ in items]

def confab(paths, extra, beam=1):
    r = subprocess.run([CONFAB, "transcribe", "--model", model_dir, "--beam", str(beam), "--threads", str(args.threads), "--json", *extra, *paths],
                       check=True, capture_output=True, text=True)
    out = json.loads(r.stdout)
    return [o["text"] for o in (out if isinstance(out, list) else [out])]

paths = [p for p, *_ in items]
def differences(ref, hyp, indent):
    for (p, *_), a, b in zip(items, ref, hyp):
        if a != b:
            print(f"{indent}{os.path.basename(p)} fw: {a!r}\n{indent}{' ' * len(os.path.basename(p))} confab: {b!r}")
truth = [t for _, t, *_ in items]
variants = [("full window", [])] + [(f"margin {m}", ["--short-window", "--margin", m]) for m in args.margins.split(",") if m]
print(f"model {model_dir}, {len(items)} utterances ({min(durations.values()):.1f}-{max(durations.values()):.1f} s), threads {args.threads}")
print(f"faster-whisper float32 greedy vs truth: WER {corpus_wer(truth, ref):.2f}%")
same8 = sum(a == b for a, b in zip(ref, ref8))
print(f"faster-whisper int8    greedy: identical to float32 {same8}/{len(ref)} = {100.0 * same8 / len(ref):.1f}%, WER vs truth {corpus_wer(truth, ref8):.2f}%")
for prec in args.precision:
    hyp = confab(paths, ["--precision", prec])
    same = sum(a == b for a, b in zip(ref, hyp))
    print(f"confab --precision {prec:5s}: identical to faster-whisper float32 {same}/{len(ref)} = {100.0 * same / len(ref):.1f}%, "
          f"WER vs faster-whisper {corpus_wer(ref, hyp):.2f}%, WER vs truth {corpus_wer(truth, hyp):.2f}%")
    differences(ref, hyp, "    ")
results = {}
for name, extra in variants:
    hyp = confab(paths, extra)
    results[name] = hyp
    same = sum(a == b for a, b in zip(ref, hyp))
    print(f"confab {name:12s}: identical to faster-whisper {same}/{len(ref)} = {100.0 * same / len(ref):.1f}%, "
          f"WER vs faster-whisper {corpus_wer(ref, hyp):.2f}%, WER vs truth {corpus_wer(truth, hyp):.2f}%")
    for (p, t, v, s), a, b in zip(items, ref, hyp):
        if a != b:
            print(f"    {os.path.basename(p)} [{v} {s}] fw: {a!r}\n    {' ' * len(os.path.basename(p))} confab: {b!r}")
def fw_beam(beam):
    """faster-whisper float32 at this beam size, temperature 0, timestamps on (its default)."""
    out = []
    for p in paths:
        segs, _ = fw32.transcribe(audio[p], beam_size=beam, temperature=0.0, vad_filter=False)
        out.append("".join(s.text for s in segs).strip())
    return out

if args.beam5:
    ref5 = fw_beam(5)
    hyp5 = confab(paths, [], beam=5)
    same = sum(a == b for a, b in zip(ref5, hyp5))
    print(f"beam 5: confab identical to faster-whisper {same}/{len(ref5)} = {100.0 * same / len(ref5):.1f}%, WER vs faster-whisper {corpus_wer(ref5, hyp5):.2f}%, "
          f"WER vs truth: faster-whisper {corpus_wer(truth, ref5):.2f}%, confab {corpus_wer(truth, hyp5):.2f}%")
    differences(ref5, hyp5, "    ")
if args.variant:
    refv = fw_beam(args.variant_beam)
    print(f"variants at beam {args.variant_beam}: faster-whisper WER vs truth {corpus_wer(truth, refv):.2f}%")
    for spec in ["default="] + args.variant:
        name, _, flags = spec.partition("=")
        hyp = confab(paths, flags.split(), beam=args.variant_beam)
        same = sum(a == b for a, b in zip(refv, hyp))
        print(f"  {name:16s} identical to faster-whisper {same}/{len(refv)}, WER vs faster-whisper {corpus_wer(refv, hyp):.2f}%, "
              f"WER vs truth {corpus_wer(truth, hyp):.2f}%")
        differences(refv, hyp, "      ")
full = results["full window"]
for name, hyp in results.items():
    if name != "full window":
        same = sum(a == b for a, b in zip(full, hyp))
        print(f"confab {name} vs confab full window: identical {same}/{len(full)}")

if args.skip_speed:
    sys.exit(0)

# Speed, interleaved in rounds: faster-whisper int8, faster-whisper float32, Confab (default settings, greedy).
short = [p for p in paths if durations[p] < args.speed_max_seconds]
if args.speed_limit:
    short = short[:args.speed_limit]
for m in (fw8, fw32):
    fw_text(m, short[0])  # warm-up
best = {k: {p: 1e9 for p in short} for k in ("fw_int8", "fw_f32", "confab")}
def confab_latency(p):
    extra = ["--precision", args.precision[0]] if args.precision else []
    out = subprocess.run([CONFAB, "bench", "asr", "--model", model_dir, "--beam", "1", "--threads", str(args.threads), "--runs", "2", "--json", *extra, p],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["utterances"][0]["latency_ms"] / 1000

# Interleaved per utterance, so load from other processes hits all three alike.
for r in range(args.rounds):
    for p in short:
        for key, m in (("fw_int8", fw8), ("fw_f32", fw32)):
            for _ in range(2):   # best of 2, as confab bench --runs 2
                t = time.perf_counter(); fw_text(m, p); best[key][p] = min(best[key][p], time.perf_counter() - t)
        best["confab"][p] = min(best["confab"][p], confab_latency(p))
print(f"\nconfab precision: {args.precision[0] if args.precision else 'default'}")
print(f"speed on {len(short)} utterances < {args.speed_max_seconds:.0f} s, best of 2 runs x {args.rounds} rounds, interleaved per utterance, {args.threads} threads (ms):")
print(f"{'utterance':10s} {'audio s':>7s} {'fw int8':>8s} {'fw f32':>8s} {'confab':>8s} {'int8/confab':>11s} {'f32/confab':>10s}")
tot = {k: 0.0 for k in best}
for p in short:
    for k in best: tot[k] += best[k][p]
    print(f"{os.path.basename(p):10s} {durations[p]:7.2f} {best['fw_int8'][p]*1000:8.1f} {best['fw_f32'][p]*1000:8.1f} {best['confab'][p]*1000:8.1f} "
          f"{best['fw_int8'][p]/best['confab'][p]:11.2f} {best['fw_f32'][p]/best['confab'][p]:10.2f}")
print(f"{'total':10s} {sum(durations[p] for p in short):7.2f} {tot['fw_int8']*1000:8.1f} {tot['fw_f32']*1000:8.1f} {tot['confab']*1000:8.1f} "
      f"{tot['fw_int8']/tot['confab']:11.2f} {tot['fw_f32']/tot['confab']:10.2f}")
print(f"ratio = faster-whisper time / Confab time (> 1 means Confab is faster)")
