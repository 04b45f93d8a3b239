#!/usr/bin/env python3
"""Greedy parity of Confab's language model against llama.cpp (llama-cpp-python) on the same GGUF files.
For each prompt (chat-formatted), both produce 32 greedy tokens. A prompt passes when the tokens are identical, or
when at the first differing step the two best logits are within 0.1 of each other in both implementations
(a near tie that 8-bit activation rounding can flip). Also reports the largest first-step logit difference.
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

def main():
    ok_all = True
    for name in ["qwen2.5-coder-0.5b", "smollm2-135m"]:
        path = os.path.join(MODELS, name, "model.gguf")
        llm = Llama(model_path=path, n_ctx=1024, n_threads=THREADS, n_batch=512, verbose=False)
        prompts = [llm.tokenize(chatml(q).encode(), add_bos=False, special=True) for q in QUESTIONS]
        # llama.cpp against itself: the same prompts run one token at a time (its decode kernels instead of its
        # batched ones). The spread between its own two paths is the noise floor any other implementation meets.
        one = Llama(model_path=path, n_ctx=1024, n_threads=THREADS, n_batch=1, n_ubatch=1, verbose=False)
        floor = 0.0
        for p in prompts:
            llm.reset(); llm.eval(p); a = last_logits(llm)
            one.reset(); one.eval(p); b = last_logits(one)
            floor = max(floor, float(np.max(np.abs(a - b))))
        del one
        ref = []
        for p in prompts:
            llm.reset()
            llm.eval(p)
            first = last_logits(llm)
            toks, top2 = [], []
            for _ in range(N):
                lg = last_logits(llm)
                o = np.argsort(-lg)[:2]
                toks.append(int(o[0])); top2.append((int(o[0]), lg[o[0]], int(o[1]), lg[o[1]]))
                llm.eval([int(o[0])])
            ref.append((toks, top2, first))
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(prompts, f)
        out = subprocess.run([CONFAB, "bench", "llm", "--model", path, "--threads", str(THREADS),
                              "--greedy-from", f.name, "--greedy-tokens", str(N)], capture_output=True, check=True)
        ours = json.loads(out.stdout)
        print(f"== {name}")
        maxdiff_all = 0.0
        for q, (rt, rtop, rfirst), o in zip(QUESTIONS, ref, ours):
            ot = o["tokens"]
            diff = float(np.max(np.abs(np.array(o["first_logits"]) - rfirst)))
            maxdiff_all = max(maxdiff_all, diff)
            if ot == rt:
                verdict = "identical"
                ok = True
            else:
                k = next(i for i in range(N) if ot[i] != rt[i])
                gap_ref = rtop[k][1] - rtop[k][3]
                gap_our = o["top2"][k][1] - o["top2"][k][3]
                ok = gap_ref <= 0.1 and gap_our <= 0.1
                verdict = f"part at token {k}: top-2 gaps llama.cpp {gap_ref:.3f}, confab {gap_our:.3f} -> {'near tie' if ok else 'MISMATCH'}"
            ok_all &= ok
            print(f"  {'PASS' if ok else 'FAIL'} {q!r}: {verdict}; first-token logits max |diff| {diff:.4f}")
            print(f"       llama.cpp: {llm.detokenize(rt).decode(errors='replace')!r}")
            if ot != rt:
                print(f"       confab:    {llm.detokenize(ot).decode(errors='replace')!r}")
        print(f"  largest first-token logit difference: {maxdiff_all:.4f} (llama.cpp batched vs one token at a time: {floor:.4f})")
        os.unlink(f.name)
    print("PARITY", "PASS" if ok_all else "FAIL")
    return 0 if ok_all else 1

if __name__ == "__main__":
    sys.exit(main())
