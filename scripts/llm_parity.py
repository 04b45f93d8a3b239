#!/usr/bin/env python3
"""Greedy parity of Confab's language model against llama.cpp (llama-cpp-python) on the same GGUF files.
For each prompt (chat-formatted), both produce 32 greedy tokens. A prompt passes when the tokens are identical, or
when at the first differing step the two best logits are within 0.1 of each other in both implementations
(a near tie that 8-bit activation rounding can flip). Also reports the largest first-step logit difference, and
llama.cpp against itself (its batched path vs one token at a time): where that spread is larger than 0.1, a prompt
that parts at a closer tie than the spread is reported as NOISE, not as a mismatch.
Usage: scripts/llm_parity.sh  (creates the venv, builds confab, runs this)"""
import json, os, subprocess, sys, tempfile
import numpy as np
import llama_cpp
from llama_cpp import Llama

MODELS = os.path.expanduser(os.environ.get("CONFAB_MODELS", "~/.local/share/confab/models"))
CONFAB = os.environ.get("CONFAB", ".build/release/confab")
THREADS = int(os.environ.get("THREADS", "2"))
N = 32
QUESTIONS = [
    "What is the capital of France?",
    "Explain in two sentences why the sky is blue.",
    "Write a haiku about the sea.",
    "What is 17 times 23?",
    "Give me three tips for sleeping better.",
    "Translate 'good morning' into German and Spanish.",
]
SYSTEM = "You are a helpful assistant."

def chatml(q):
    return f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"

def last_logits(llm):
    # The logits of the last evaluated token, straight from llama.cpp's context.
    p = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(p, shape=(llm.n_vocab(),)).astype(np.float64)

def greedy(llm, p):
    """32 greedy tokens after prompt p: ids, (best id, logit, second id, logit) per step, and the first logits."""
    llm.reset()
    llm.eval(p)
    first = last_logits(llm)
    toks, top2 = [], []
    for _ in range(N):
        lg = last_logits(llm)
        o = np.argsort(-lg)[:2]
        toks.append(int(o[0])); top2.append((int(o[0]), lg[o[0]], int(o[1]), lg[o[1]]))
        llm.eval([int(o[0])])
    return toks, top2, first

def parting(a, atop, b, btop):
    """None if the continuations are identical, else (k, top-2 gap of a at k, top-2 gap of b at k)."""
    if a == b:
        return None
    k = next(i for i in range(N) if a[i] != b[i])
    return k, atop[k][1] - atop[k][3], btop[k][1] - btop[k][3]

def main():
    ok_all = True
    for name in ["qwen2.5-coder-0.5b", "smollm2-135m"]:
        path = os.path.join(MODELS, name, "model.gguf")
        llm = Llama(model_path=path, n_ctx=1024, n_threads=THREADS, n_batch=512, verbose=False)
        prompts = [llm.tokenize(chatml(q).encode(), add_bos=False, special=True) for q in QUESTIONS]
        ref = [greedy(llm, p) for p in prompts]
        # llama.cpp against itself: the same prompts and continuations one token at a time (its one-row kernels
        # instead of its batched GEMMs, which sum in another order and, for Q4_K, use repacked weights). How far its
        # own two paths lie apart is the noise floor any other implementation meets; where its own continuations
        # part, a near tie is flipped by nothing more than the order of float sums.
        one = Llama(model_path=path, n_ctx=1024, n_threads=THREADS, n_batch=1, n_ubatch=1, verbose=False)
        single = [greedy(one, p) for p in prompts]
        del one
        floor = max(float(np.max(np.abs(r[2] - s1[2]))) for r, s1 in zip(ref, single))
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(prompts, f)
        out = subprocess.run([CONFAB, "bench", "llm", "--model", path, "--threads", str(THREADS),
                              "--greedy-from", f.name, "--greedy-tokens", str(N)], capture_output=True, check=True)
        ours = json.loads(out.stdout)
        print(f"== {name}: llama.cpp batched (n_batch 512) vs confab, and vs llama.cpp one token at a time (n_batch 1)")
        maxdiff_all, strict, explained = 0.0, 0, 0
        for q, (rt, rtop, rfirst), (st, stop, sfirst), o in zip(QUESTIONS, ref, single, ours):
            ot, otop = o["tokens"], o["top2"]
            first = np.array(o["first_logits"])
            diff = float(np.max(np.abs(first - rfirst)))
            mean = float(np.mean(np.abs(first - rfirst)))
            self_diff = float(np.max(np.abs(sfirst - rfirst)))
            maxdiff_all = max(maxdiff_all, diff)
            ours_p = parting(rt, rtop, ot, otop)
            self_p = parting(rt, rtop, st, stop)
            if ours_p is None:
                verdict, ok, noise = "identical", True, True
            else:
                k, gr, go = ours_p
                ok = gr <= 0.1 and go <= 0.1
                # Within the noise: the two best logits at the parting token are closer than llama.cpp's own
                # batched-vs-single spread in both implementations, or llama.cpp's own paths part there too.
                noise = ok or (gr <= floor and go <= floor) or (self_p is not None and self_p[0] <= k)
                verdict = (f"part at token {k}: top-2 gaps llama.cpp {gr:.3f}, confab {go:.3f} -> "
                           + ("near tie" if ok else "gap over 0.1" + (", within llama.cpp's own spread" if noise else ", MISMATCH")))
            strict += ok
            explained += noise
            ok_all &= noise
            sv = "identical" if self_p is None else f"part at token {self_p[0]} (gaps {self_p[1]:.3f} / {self_p[2]:.3f})"
            same_as_single = "" if ours_p is None else (" = llama.cpp one-token continuation" if ot == st else "")
            print(f"  {'PASS' if ok else ('NOISE' if noise else 'FAIL')} {q!r}: {verdict}")
            print(f"       first-token logits |diff| max {diff:.4f} mean {mean:.4f} (llama.cpp batched vs single: max {self_diff:.4f});"
                  f" llama.cpp single vs batched continuation: {sv}")
            print(f"       llama.cpp: {llm.detokenize(rt).decode(errors='replace')!r}")
            if ot != rt:
                print(f"       confab:    {llm.detokenize(ot).decode(errors='replace')!r}{same_as_single}")
            if st != rt:
                print(f"       llama.cpp one token at a time: {llm.detokenize(st).decode(errors='replace')!r}")
        print(f"  {name}: {strict}/{len(QUESTIONS)} pass the 0.1 near-tie rule, {explained}/{len(QUESTIONS)} within llama.cpp's own noise;"
              f" largest first-token logit difference {maxdiff_all:.4f} (llama.cpp batched vs one token at a time: {floor:.4f})")
        os.unlink(f.name)
        del llm
    print("PARITY", "PASS" if ok_all else "FAIL", "(every prompt identical, a near tie, or parted within llama.cpp's own batched-vs-single spread)")
    return 0 if ok_all else 1

if __name__ == "__main__":
    sys.exit(main())
