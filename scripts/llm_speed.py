#!/usr/bin/env python3
"""Prefill and decode speed of Confab (`confab bench llm --json`) and llama.cpp (llama-cpp-python) on the same GGUF
file and thread count, interleaved in one run (the machine is shared: alternate, take each side's best).
Also the machine's memory read bandwidth (numpy sums over 1 GiB, one thread per share), to report decode as a share
of it. Usage: scripts/llm_speed.sh [--threads N] [--rounds R] [--models a,b]"""
import argparse, json, os, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import llama_cpp
from llama_cpp import Llama

MODELS = os.path.expanduser(os.environ.get("CONFAB_MODELS", "~/.local/share/confab/models"))
CONFAB = os.environ.get("CONFAB", ".build/release/confab")

def llama_bench(llm, n_prompt, n_decode):
    V = llm.n_vocab()
    prompt = [(1000 + i * 7919) % V for i in range(n_prompt)]
    llm.reset()
    t = time.perf_counter(); llm.eval(prompt); pp = n_prompt / (time.perf_counter() - t)
    llm.reset()
    t = time.perf_counter()
    for i in range(n_decode): llm.eval([(i * 31 + 5) % V])
    tg = n_decode / (time.perf_counter() - t)
    return pp, tg

def read_bandwidth(threads, gib=1.0, rounds=3):
    """GB/s of main-memory reads with `threads` threads (numpy's sum releases the GIL)."""
    a = np.ones(int(gib * (1 << 30)) // 4, dtype=np.float32)
    parts = np.array_split(a, threads)
    best = 0.0
    with ThreadPoolExecutor(threads) as ex:
        for _ in range(rounds):
            t = time.perf_counter(); list(ex.map(np.sum, parts)); dt = time.perf_counter() - t
            best = max(best, a.nbytes / dt / 1e9)
    return best

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--models", default="qwen2.5-coder-1.5b,qwen2.5-coder-0.5b,smollm2-135m")
    a = ap.parse_args()
    bw = read_bandwidth(a.threads)
    print(f"memory read bandwidth ({a.threads} threads, numpy sums over 1 GiB): {bw:.1f} GB/s")
    for name in a.models.split(","):
        path = os.path.join(MODELS, name, "model.gguf")
        llm = Llama(model_path=path, n_ctx=512, n_batch=512, n_threads=a.threads, n_threads_batch=a.threads, verbose=False)
        ours, ref = [0.0, 0.0], [0.0, 0.0]
        for r in range(a.rounds):
            out = subprocess.run([CONFAB, "bench", "llm", "--model", path, "--threads", str(a.threads), "--json", "--repeats", "1",
                                  "--prompt-tokens", str(a.prompt_tokens), "--decode-tokens", str(a.decode_tokens)],
                                 capture_output=True, check=True)
            j = json.loads(out.stdout)
            ours = [max(ours[0], j["prefill_tok_per_s"]), max(ours[1], j["decode_tok_per_s"])]
            per_token = j["weight_bytes_per_token"]
            pp, tg = llama_bench(llm, a.prompt_tokens, a.decode_tokens)
            ref = [max(ref[0], pp), max(ref[1], tg)]
        print(f"{name} ({a.threads} threads, best of {a.rounds}, prompt {a.prompt_tokens}, decode {a.decode_tokens})")
        print(f"  prefill  confab {ours[0]:7.1f} tok/s   llama.cpp {ref[0]:7.1f} tok/s   ratio {ours[0] / ref[0]:.2f}")
        print(f"  decode   confab {ours[1]:7.1f} tok/s   llama.cpp {ref[1]:7.1f} tok/s   ratio {ours[1] / ref[1]:.2f}")
        gbs = ours[1] * per_token / 1e9
        print(f"  decode   confab reads {per_token / 1e6:.0f} MB of weights per token: {gbs:.1f} GB/s, {100 * gbs / bw:.0f}% of the measured bandwidth"
              f" (llama.cpp {100 * ref[1] * per_token / 1e9 / bw:.0f}%)")
        del llm

if __name__ == "__main__":
    sys.exit(main())
