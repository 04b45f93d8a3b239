#!/usr/bin/env python3
"""Makes Tests/LanguageModelTests/Fixtures/tokenizer_golden.json: token ids of a fixed set of strings from
llama.cpp's tokenizer (llama-cpp-python, vocab only) for both carried models. Run once via scripts/llm_parity.sh's venv:
    scripts/.venv-llm/bin/python scripts/llm_tokenizer_golden.py
"""
import json, os, sys
from llama_cpp import Llama

MODELS = os.path.expanduser(os.environ.get("CONFAB_MODELS", "~/.local/share/confab/models"))
STRINGS = [
    "Hello world",
    "What is the capital of France?",
    " leading space and  double  spaces, trailing space ",
    "Numbers: 1 12 123 1234 12345 3.14159 -42 1,000,000",
    "Contractions: I'm, you're, he's, we'll, they'd, I've, don't, WE'RE, IT'S",
    "Newlines\nand\r\nwindows\n\n\nblank lines\tand\ttabs",
    "Ünïcödé: café, naïve, Straße, Ελληνικά, русский, 中文字符, 日本語のテキスト, 한국어",
    "Emoji 😀👍🏽🇫🇷 and ZWJ 👨‍👩‍👧 sequences",
    "Code: def f(x):\n    return x**2  # square\n\nprint(f(3))",
    "Punctuation!!! ??? ... --- ((brackets)) [x] {y} <z> @#$%^&*",
    "   ",
    "a",
    "<|im_start|>user\nhi<|im_end|>",
    "URL https://example.com/path?q=1&r=two#frag and email a.b@c.de",
    "Mixed123abc456 ABCdef 0x1F 1e-5 3rd 21st",
]

def main():
    out = {"strings": STRINGS, "models": {}}
    for name in ["qwen2.5-coder-0.5b", "smollm2-135m"]:
        llm = Llama(model_path=os.path.join(MODELS, name, "model.gguf"), vocab_only=True, verbose=False)
        plain = [llm.tokenize(s.encode(), add_bos=False, special=False) for s in STRINGS]
        special = [llm.tokenize(s.encode(), add_bos=False, special=True) for s in STRINGS]
        out["models"][name] = {"plain": plain, "special": special}
    path = os.path.join(os.path.dirname(__file__), "..", "Tests", "LanguageModelTests", "Fixtures", "tokenizer_golden.json")
    with open(path, "w") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
    print("wrote", os.path.normpath(path), os.path.getsize(path), "bytes")

if __name__ == "__main__":
    sys.exit(main())
