"""The official `openai` package against `confab serve`. Usage: openai_client.py BASE_URL KEY SCENARIO [WORKDIR]
Each scenario asserts what a client sees and prints `ok: ...` lines; any failure raises (exit status 1)."""
import io
import json
import sys

import openai
from openai import OpenAI

base, key, scenario = sys.argv[1], sys.argv[2], sys.argv[3]
client = OpenAI(base_url=base, api_key=key, max_retries=0, timeout=120)
SENTENCE = "The quick brown fox jumps over the lazy dog."


def speech(fmt="wav", text=SENTENCE, **kw):
    r = client.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format=fmt, **kw)
    return r.read()


def words(t):
    return "".join(c.lower() if c.isalnum() else " " for c in t).split()


if scenario == "models":
    ids = [m.id for m in client.models.list().data]
    for want in ["whisper-1", "tts-1", "tiny.en", "en_US-joe-medium", "smollm2-135m"]:
        assert want in ids, f"{want} not in {ids}"
    m = client.models.retrieve("smollm2-135m")
    assert m.id == "smollm2-135m" and m.object == "model", m
    print("ok: models", ids)

elif scenario == "speech_roundtrip":
    wav = speech("wav")
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE", wav[:16]
    assert len(wav) > 44 + 22050, f"only {len(wav)} bytes of WAV"
    # Every transcription format, from the speech Confab just made.
    r = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", wav, "audio/wav"))
    w = words(r.text)
    assert "fox" in w and "dog" in w, r.text
    print("ok: json", r.text)
    t = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", wav), response_format="text")
    assert isinstance(t, str) and "fox" in words(t), repr(t)
    print("ok: text", t.strip())
    v = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", wav), response_format="verbose_json")
    assert v.duration > 1.0 and v.language == "english" and len(v.segments) >= 1, v
    assert v.segments[0].end > v.segments[0].start and "fox" in words(v.text), v
    print("ok: verbose_json", v.duration, len(v.segments))
    s = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", wav), response_format="srt")
    assert s.startswith("1\n00:00:") and " --> " in s and "fox" in words(s), repr(s)
    print("ok: srt", repr(s[:40]))
    vt = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", wav), response_format="vtt")
    assert vt.startswith("WEBVTT\n\n00:00:") and " --> " in vt and "fox" in words(vt), repr(vt)
    print("ok: vtt", repr(vt[:40]))
    # The model by its own name, the language given, and a FLAC upload.
    flac = speech("flac")
    assert flac[:4] == b"fLaC", flac[:8]
    r = client.audio.transcriptions.create(model="tiny.en", language="en", file=("speech.flac", flac))
    assert "fox" in words(r.text), r.text
    print("ok: flac upload", r.text)
    pcm = speech("pcm")
    assert len(pcm) % 2 == 0 and len(pcm) > 22050, len(pcm)
    # Same voice, same text: the PCM is the WAV's sample data (give or take the random noise of VITS).
    assert abs(len(pcm) - (len(wav) - 44)) < 22050 * 2, (len(pcm), len(wav))
    slow = speech("pcm", speed=0.5)
    assert len(slow) > 1.5 * len(pcm), (len(slow), len(pcm))
    print("ok: pcm", len(pcm), "speed 0.5", len(slow))

elif scenario == "chat":
    r = client.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "system", "content": "You are terse."},
                                        {"role": "user", "content": "What is the capital of France?"}],
        max_tokens=12, temperature=0, seed=7)
    c = r.choices[0]
    assert c.message.role == "assistant" and c.message.content.strip(), r
    assert c.finish_reason in ("stop", "length"), c.finish_reason
    assert r.usage.prompt_tokens > 5 and 1 <= r.usage.completion_tokens <= 12, r.usage
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    again = client.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "system", "content": "You are terse."},
                                        {"role": "user", "content": "What is the capital of France?"}],
        max_tokens=12, temperature=0, seed=7)
    # Not compared word for word: the second prompt comes from the key/value cache (one token prefilled, not the
    # whole prompt), and batched and one-token prefill round differently, which can flip a near tie.
    assert again.choices[0].message.content.strip() and again.usage.prompt_tokens == r.usage.prompt_tokens, again
    print("ok: chat", repr(c.message.content), r.usage)
    short = client.chat.completions.create(model="smollm2-135m", messages=[{"role": "user", "content": "Count: 1, 2, 3, 4, 5, 6"}],
                                           max_tokens=3, temperature=0.9, top_p=0.9)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 3, short
    print("ok: max_tokens", short.usage)
    stopped = client.chat.completions.create(model="smollm2-135m", messages=[{"role": "user", "content": "Say hello."}],
                                             max_tokens=40, temperature=0, stop=[" "])
    assert " " not in stopped.choices[0].message.content.strip(), repr(stopped.choices[0].message.content)
    print("ok: stop", repr(stopped.choices[0].message.content))

elif scenario == "chat_stream":
    stream = client.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": "Name three colors."}],
        max_tokens=20, temperature=0, stream=True, stream_options={"include_usage": True})
    pieces, finish, usage, roles = [], None, None, []
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for ch in chunk.choices:
            if ch.delta.role:
                roles.append(ch.delta.role)
            if ch.delta.content:
                pieces.append(ch.delta.content)
            if ch.finish_reason:
                finish = ch.finish_reason
    text = "".join(pieces)
    assert roles == ["assistant"] and len(pieces) >= 2 and text.strip(), (roles, pieces)
    assert finish in ("stop", "length") and usage and usage.completion_tokens >= len(pieces) - 1, (finish, usage)
    print("ok: stream", len(pieces), "pieces", repr(text), usage)

elif scenario == "errors":
    bad = OpenAI(base_url=base, api_key="wrong-key", max_retries=0)
    try:
        bad.models.list(); raise AssertionError("wrong key accepted")
    except openai.AuthenticationError as e:
        assert e.status_code == 401 and e.code == "invalid_api_key", e
        print("ok: 401", e.message)
    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}]); raise AssertionError
    except openai.NotFoundError as e:
        assert e.code == "model_not_found" and "no-such-model" in e.message, e
        print("ok: 404 chat", e.message)
    try:
        client.audio.transcriptions.create(model="whisper-9", file=("a.wav", b"RIFF")); raise AssertionError
    except openai.NotFoundError as e:
        print("ok: 404 transcription", e.message)
    try:
        client.audio.transcriptions.create(model="whisper-1", file=("notes.txt", b"these are not sounds at all, just text\n" * 20)); raise AssertionError
    except openai.BadRequestError as e:
        assert "not audio" in e.message and "notes.txt" in e.message, e.message
        print("ok: 400 not audio", e.message)
    try:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"")); raise AssertionError
    except openai.BadRequestError as e:
        assert "empty" in e.message, e.message
        print("ok: 400 empty file", e.message)
    try:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", speech("wav", "Hi there.")), response_format="tsv"); raise AssertionError
    except openai.BadRequestError as e:
        assert e.param == "response_format", e
        print("ok: 400 format", e.message)
    try:
        speech("wav", "   "); raise AssertionError
    except openai.BadRequestError as e:
        assert e.param == "input", e
        print("ok: 400 empty input", e.message)
    try:
        speech("mp3"); raise AssertionError
    except openai.BadRequestError as e:
        assert "mp3" in e.message, e
        print("ok: 400 mp3", e.message)
    try:
        client.chat.completions.create(model="smollm2-135m", messages=[]); raise AssertionError
    except openai.BadRequestError as e:
        assert e.param == "messages", e
        print("ok: 400 no messages", e.message)
    try:
        client.chat.completions.create(model="smollm2-135m", messages=[{"role": "user", "content": "hi"}], temperature=5); raise AssertionError
    except openai.BadRequestError as e:
        assert e.param == "temperature", e
        print("ok: 400 temperature", e.message)
else:
    raise SystemExit(f"unknown scenario {scenario}")
