#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: small valid files, made by hand here (and by sox for the audio
formats). Usage: make_corpus.py [ROOT [TARGET,...]] (default ROOT Fuzz/corpus, every target).
The model-format seeds (gguf, ct2, onnx) are not committed: scripts/fuzz.sh writes them into .build-fuzz/seeds
before each run; the committed corpus holds the other targets' seeds and every input that once crashed a parser."""
import json, os, struct, subprocess, sys, tempfile

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
only = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else None
MODEL_FORMATS = {"gguf", "ct2", "onnx", "wyoming"}   # generated at fuzz time, never committed

def put(target, name, data):
    if (only is not None and target not in only) or (only is None and target in MODEL_FORMATS):
        return
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

# --- GGUF v3: metadata of every type, a BPE tokenizer, tensors of four types ---------------------------------
def gstr(s): b = s.encode(); return struct.pack("<Q", len(b)) + b
def gkv(key, t, payload): return gstr(key) + struct.pack("<I", t) + payload
def garr(et, items): return struct.pack("<IQ", et, len(items)) + b"".join(items)

def gguf(tensors, extra=()):
    toks = ["a", "b", "c", "ab", "abc", "Ġ", "Ġa", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "1", "2", "3"]
    types = [1] * 7 + [3, 3, 3] + [1] * 3
    kv = [
        gkv("general.architecture", 8, gstr("llama")),
        gkv("general.alignment", 4, struct.pack("<I", 32)),
        gkv("llama.context_length", 10, struct.pack("<Q", 128)),
        gkv("llama.rope.freq_base", 6, struct.pack("<f", 10000.0)),
        gkv("general.flag", 7, b"\x01"),
        gkv("general.small", 0, b"\x05"), gkv("general.neg", 1, b"\xff"),
        gkv("general.u16", 2, struct.pack("<H", 7)), gkv("general.i16", 3, struct.pack("<h", -7)),
        gkv("general.i32", 5, struct.pack("<i", -70000)), gkv("general.i64", 11, struct.pack("<q", -1)),
        gkv("general.f64", 12, struct.pack("<d", 0.5)),
        gkv("general.floats", 9, garr(6, [struct.pack("<f", 1.5), struct.pack("<f", -2)])),
        gkv("general.nested", 9, garr(9, [garr(4, [struct.pack("<I", 1)]), garr(8, [gstr("x")])])),
        gkv("general.bools", 9, garr(7, [b"\x00", b"\x01"])),
        gkv("tokenizer.ggml.model", 8, gstr("gpt2")),
        gkv("tokenizer.ggml.pre", 8, gstr("qwen2")),
        gkv("tokenizer.ggml.tokens", 9, garr(8, [gstr(t) for t in toks])),
        gkv("tokenizer.ggml.token_type", 9, garr(5, [struct.pack("<i", t) for t in types])),
        gkv("tokenizer.ggml.merges", 9, garr(8, [gstr("a b"), gstr("ab c"), gstr("Ġ a")])),
        gkv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 9)),
        gkv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 8)),
        gkv("tokenizer.chat_template", 8, gstr("{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}")),
    ] + list(extra)
    info, data = b"", b""
    for name, shape, t, nbytes in tensors:
        data += b"\x00" * ((-len(data)) % 32)
        info += gstr(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        info += struct.pack("<IQ", t, len(data))
        data += bytes((i * 37) & 0xFF for i in range(nbytes))
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv) + info
    return head + b"\x00" * ((-len(head)) % 32) + data

put("gguf", "tiny.gguf", gguf([("token_embd.weight", [4, 3], 0, 48), ("blk.0.attn_q.weight", [32, 2], 8, 68),
                               ("output_norm.weight", [4], 1, 8), ("blk.0.ffn_down.weight", [256, 1], 12, 144)]))
put("gguf", "no-tensors.gguf", gguf([]))

# --- CTranslate2 model.bin, versions 6 and 3 ------------------------------------------------------------------
def cstr(s): b = s.encode() + b"\x00"; return struct.pack("<H", len(b)) + b
def cvar6(name, dims, dtype, data): return cstr(name) + struct.pack("<B", len(dims)) + b"".join(struct.pack("<I", d) for d in dims) + struct.pack("<BI", dtype, len(data)) + data
def cvar3(name, dims, item, data): return cstr(name) + struct.pack("<B", len(dims)) + b"".join(struct.pack("<I", d) for d in dims) + struct.pack("<BI", item, len(data) // item) + data

v6 = [cvar6("encoder/num_heads", [], 3, struct.pack("<i", 6)),
      cvar6("encoder/scale", [], 0, struct.pack("<f", 2.0)),
      cvar6("w", [2, 2], 0, struct.pack("<4f", 1, 2, 3, 4)),
      cvar6("q", [2, 2], 1, bytes([1, 2, 0xFF, 0x80])), cvar6("q_scale", [2], 0, struct.pack("<2f", 0.5, 4)),
      cvar6("s", [2], 2, struct.pack("<2h", -3, 9)), cvar6("s_scale", [], 0, struct.pack("<f", 3)),
      cvar6("h", [3], 4, struct.pack("<3e", 1, -2, 0.5)), cvar6("bf", [1], 5, b"\x80\x3f")]
put("ct2", "v6.bin", struct.pack("<I", 6) + cstr("WhisperSpec") + struct.pack("<II", 3, len(v6)) + b"".join(v6)
    + struct.pack("<I", 1) + cstr("alias") + cstr("q"))
v3 = [cvar3("w", [3], 4, struct.pack("<3f", 1, 2, 3)), cvar3("q", [2], 1, b"\x01\x02")]
put("ct2", "v3.bin", struct.pack("<I", 3) + cstr("TransformerSpec") + struct.pack("<II", 1, len(v3)) + b"".join(v3) + struct.pack("<I", 0))

# --- Whisper config.json and vocabulary.txt ------------------------------------------------------------------
put("whisper-config", "config.json", json.dumps({"alignment_heads": [[1, 0], [2, 5]], "lang_ids": [7, 8],
    "suppress_ids": [1, 2, 7, 8, 9, 10, 14, 25, 50361], "suppress_ids_begin": [220, 50256]}))
put("whisper-config", "empty.json", "{}")
vocab = ["!", "a", "b", "Ġhello", "Ġwor", "ld", "Ã©", "<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|de|>",
         "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>", "<|0.00|>", "<|0.02|>"]
put("whisper-vocab", "vocabulary.txt", "\n".join(vocab) + "\n")
put("whisper-vocab", "crlf.txt", "\r\n".join(vocab).replace("<|nocaptions|>", "<|nospeech|>"))

# --- ONNX: a ModelProto with Conv and Gather nodes and float initializers (raw and float_data) ----------------
def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        if n: out += bytes([b | 0x80])
        else: return out + bytes([b])
def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2: return key + varint(len(payload)) + payload
    return key + payload
def s(num, text): return field(num, 2, text.encode() if isinstance(text, str) else text)
def i(num, n): return field(num, 0, varint(n & 0xFFFFFFFFFFFFFFFF))
def tensor(name, dims, floats=None, raw=None, dtype=1, ints=None):
    t = b"".join(i(1, d) for d in dims) + i(2, dtype) + s(8, name)
    if floats is not None: t += s(4, struct.pack("<%df" % len(floats), *floats))
    if raw is not None: t += s(9, raw)
    if ints is not None: t += s(7, b"".join(varint(v) for v in ints))
    return t
def attr(name, ints=None, ival=None):
    a = s(1, name)
    if ival is not None: a += i(3, ival) + i(20, 2)
    if ints is not None: a += s(8, b"".join(varint(v) for v in ints)) + i(20, 7)
    return a
conv = s(1, "x") + s(1, "onnx::Conv_1") + s(1, "onnx::Conv_2") + s(2, "y") + s(3, "/dec/conv_pre/Conv") + s(4, "Conv") \
     + s(5, attr("dilations", ints=[1])) + s(5, attr("pads", ints=[3, 3])) + s(5, attr("strides", ints=[1])) + s(5, attr("group", ival=1))
gather = s(1, "sid") + s(1, "ids") + s(2, "e") + s(3, "/enc_p/emb/Gather") + s(4, "Gather")
graph = s(1, conv) + s(1, gather) + s(2, "main") \
      + s(5, tensor("onnx::Conv_1", [2, 1, 3], raw=struct.pack("<6f", 1, 2, 3, 4, 5, 6))) \
      + s(5, tensor("onnx::Conv_2", [2], floats=[0.5, -0.5])) \
      + s(5, tensor("sid", [3, 2], raw=struct.pack("<6f", *range(6)))) \
      + s(5, tensor("shape", [2], dtype=7, ints=[1, 2]))
put("onnx", "tiny.onnx", i(1, 8) + s(2, "pytorch") + s(7, graph) + s(8, i(2, 17)))

# --- Piper .onnx.json ------------------------------------------------------------------------------------------
put("piper-config", "voice.onnx.json", json.dumps({
    "audio": {"sample_rate": 22050, "quality": "medium"}, "espeak": {"voice": "en-us"},
    "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
    "phoneme_type": "espeak", "phoneme_map": {"a": ["b"]},
    "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], "a": [14], "ə": [59], "ˈ": [120]},
    "num_symbols": 256, "num_speakers": 2, "speaker_id_map": {"one": 0, "two": 1}}, ensure_ascii=False))

# --- model manifest --------------------------------------------------------------------------------------------
put("manifest", "models.json", open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "models.json"), "rb").read())
put("manifest", "one.json", json.dumps({"version": 1, "models": [{"name": "m", "kind": "llm", "default": True,
    "description": "d", "memory": 1000, "fallback": "n", "main": "model.gguf",
    "packages": [{"name": "p", "version": "1", "sha256": "0" * 64}],
    "files": [{"name": "model.gguf", "size": 10, "sha256": "a" * 64, "parts": [{"package": "p", "member": "x/y.bin"}]}]}]}))

# --- audio: short files in the formats libsndfile reads (sox makes them) ---------------------------------------
with tempfile.TemporaryDirectory() as tmp:
    for name, args in [] if only is not None and "audio" not in only else [("mono16k.wav", ["-r", "16000", "-c", "1", "-b", "16"]), ("stereo8k-u8.wav", ["-r", "8000", "-c", "2", "-b", "8"]),
                       ("float44k.wav", ["-r", "44100", "-c", "1", "-e", "floating-point", "-b", "32"]),
                       ("mono22k.flac", ["-r", "22050", "-c", "1", "-b", "16"]), ("stereo48k.aiff", ["-r", "48000", "-c", "2", "-b", "24"]),
                       ("mono16k.ogg", ["-r", "16000", "-c", "1"]), ("ulaw8k.au", ["-r", "8000", "-c", "1", "-e", "u-law"])]:
        out = os.path.join(tmp, name)
        subprocess.run(["sox", "-n"] + args + [out, "synth", "0.01", "sine", "440"], check=True)
        put("audio", name, open(out, "rb").read())
    # Longer than the fuzz target's 20-s decode limit (30 s of silence at 1 kHz, about 200 bytes): one with an honest
    # header (refused by it) and one whose STREAMINFO gives no length (total samples 0: stopped while decoding).
    if only is None or "audio" in only:
        out = os.path.join(tmp, "long.flac")
        subprocess.run(["sox", "-D", "-n", "-r", "1000", "-c", "1", "-b", "16", out, "synth", "30", "sine", "0", "vol", "0"], check=True)
        flac = bytearray(open(out, "rb").read())
        put("audio", "30s-1k.flac", bytes(flac))
        assert flac[:4] == b"fLaC" and flac[4] & 0x7F == 0
        flac[21] &= 0xF0; flac[22:26] = b"\0\0\0\0"
        put("audio", "30s-1k-nolength.flac", bytes(flac))

# --- HTTP multipart (first line: the Content-Type) and Wyoming streams (first byte: the read size) -------------
put("multipart", "transcription.txt", "multipart/form-data; boundary=b0undary\n"
    "preamble\r\n--b0undary\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
    "--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\x00\x01\r\n"
    "--b0undary\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\n\r\n--b0undary--\r\n")
put("multipart", "quoted.txt", "Multipart/Form-Data; charset=utf-8; boundary=\"a b\"\n--a b\r\n\r\nx\r\n--a b--")
def wy(t, data=None, payload=b""):
    h = {"type": t, "version": "1.5.4"}
    d = json.dumps(data).encode() if data else b""
    if d: h["data_length"] = len(d)
    if payload: h["payload_length"] = len(payload)
    return json.dumps(h).encode() + b"\n" + d + payload
put("wyoming", "transcribe.bin", b"\x07" + wy("describe") + wy("transcribe", {"name": "tiny.en", "language": "en"})
    + wy("audio-start", {"rate": 16000, "width": 2, "channels": 1}) + wy("audio-chunk", {"rate": 16000}, bytes(range(64)))
    + wy("audio-stop") + b'{"type": "ping", "data": {"text": "x"}}\n')
put("wyoming", "blank-lines.bin", b"\x02" + b"".join((b"\r\n" if i % 2 else b"  \n") + wy("ping", {"text": "p" * i}) for i in range(40)))
put("wyoming", "synthesize.bin", b"\x00" + wy("synthesize", {"text": "Hello there.", "voice": {"name": "en_US-joe-medium"}}))
print("corpus written to", root)
