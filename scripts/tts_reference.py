#!/usr/bin/env python3
"""Reference side of Confab's Piper parity checks (dev only; runs in scripts/.venv-tts).

  golden   SENTENCES.txt OUT.json     piper's own phonemizer (espeak-ng 1.52): phonemes + ids per sentence
  fixtures OUT.json                   intermediate outputs for one sentence, scales [0, 1, 0] (small)
  ids      OUT_DIR                    onnxruntime audio for ids lists read from OUT_DIR/ids.json (noise 0)
  speed    THREADS TEXT               one timed synthesis: prints JSON {seconds, first_ms, audio_s}
"""
import json, os, sys, time
import numpy as np

VOICE = os.path.expanduser(os.environ.get("CONFAB_VOICE", "~/.local/share/confab/models/en_US-joe-medium/en_US-joe-medium.onnx"))


def piper_voice(threads=None):
    from piper import PiperVoice
    import onnxruntime as ort
    v = PiperVoice.load(VOICE)
    if threads:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        v.session = ort.InferenceSession(VOICE, sess_options=so, providers=["CPUExecutionProvider"])
    return v


def golden(src, dst):
    v = piper_voice()
    out = []
    for line in open(src, encoding="utf-8"):
        text = line.rstrip("\n")
        if not text:
            continue
        sents = v.phonemize(text)
        out.append({"text": text, "sentences": [{"phonemes": "".join(p), "ids": v.phonemes_to_ids(p)} for p in sents]})
    json.dump(out, open(dst, "w"), ensure_ascii=False, indent=0)


def session_with_outputs(names, threads=1):
    import onnx, onnxruntime as ort
    m = onnx.load(VOICE)
    for n in names:
        m.graph.output.append(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None))
    so = ort.SessionOptions(); so.intra_op_num_threads = threads
    return ort.InferenceSession(m.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])


def run(sess, ids, scales=(0.0, 1.0, 0.0)):
    x = np.array([ids], dtype=np.int64)
    return sess.run(None, {"input": x, "input_lengths": np.array([len(ids)], dtype=np.int64),
                           "scales": np.array(scales, dtype=np.float32)})


def fixtures(dst):
    ids = [1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 3, 0, 35, 0, 120, 0, 62, 0, 122, 0, 24, 0, 17, 0, 10, 0, 2]
    names = ["/enc_p/Split_output_0", "/enc_p/Split_output_1", "/dp/Split_output_0", "/Ceil_output_0", "/Mul_7_output_0"]
    sess = session_with_outputs(names)
    out, m, logs, logw, wceil, z = run(sess, ids)
    audio = out.reshape(-1)
    T = len(ids)
    fx = {
        "ids": ids, "scales": [0.0, 1.0, 0.0],
        "m_p_first_column": m[0, :, 0].tolist(), "m_p_sum": float(m.sum()), "logs_p_column5": logs[0, :, 5].tolist(),
        "logw": logw.reshape(-1).tolist(), "w_ceil": [int(v) for v in wceil.reshape(-1)],
        "frames": int(z.shape[2]), "z_frame10": z[0, :, 10].tolist(),
        "samples": int(audio.shape[0]), "audio_2000_2064": audio[2000:2064].tolist(),
        "audio_rms": float(np.sqrt((audio ** 2).mean())),
    }
    json.dump(fx, open(dst, "w"), indent=0)


def ids_audio(d):
    import onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads = 1
    sess = ort.InferenceSession(VOICE, sess_options=so, providers=["CPUExecutionProvider"])
    items = json.load(open(os.path.join(d, "ids.json")))
    for i, ids in enumerate(items):
        audio = run(sess, ids)[0].reshape(-1).astype(np.float32)
        audio.tofile(os.path.join(d, f"ref_{i}.f32"))


def speed(threads, text):
    v = piper_voice(int(threads))
    from piper import SynthesisConfig
    cfg = SynthesisConfig()
    list(v.synthesize("Warm up.", cfg))
    t0 = time.perf_counter(); first = None; n = 0
    for chunk in v.synthesize(text, cfg):
        if first is None:
            first = time.perf_counter()
        n += len(chunk.audio_float_array)
    t1 = time.perf_counter()
    print(json.dumps({"seconds": t1 - t0, "first_ms": (first - t0) * 1000, "audio_s": n / v.config.sample_rate}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"golden": lambda: golden(sys.argv[2], sys.argv[3]), "fixtures": lambda: fixtures(sys.argv[2]),
     "ids": lambda: ids_audio(sys.argv[2]), "speed": lambda: speed(sys.argv[2], sys.argv[3])}[cmd]()
