"""The `wyoming` package's client against Confab's Wyoming server. Usage: wyoming_client.py HOST PORT SCENARIO.
Prints `ok: ...`; any failure raises."""
import asyncio
import json
import socket
import sys

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

host, port, scenario = sys.argv[1], int(sys.argv[2]), sys.argv[3]


async def synthesize(text, voice=None):
    async with AsyncTcpClient(host, port) as c:
        await c.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice) if voice else None).event())
        start, chunks = None, []
        while True:
            e = await asyncio.wait_for(c.read_event(), 60)
            assert e is not None, "connection closed before audio-stop"
            if AudioStart.is_type(e.type):
                start = AudioStart.from_event(e)
            elif AudioChunk.is_type(e.type):
                ch = AudioChunk.from_event(e)
                assert (ch.rate, ch.width, ch.channels) == (start.rate, start.width, start.channels)
                chunks.append(ch.audio)
            elif AudioStop.is_type(e.type):
                break
            elif Error.is_type(e.type):
                raise AssertionError(Error.from_event(e).text)
        return start, b"".join(chunks), len(chunks)


async def transcribe(audio, rate, width=2, channels=1, chunk=2048):
    async with AsyncTcpClient(host, port) as c:
        await c.write_event(Transcribe(language="en").event())
        await c.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        for i in range(0, len(audio), chunk):
            await c.write_event(AudioChunk(rate=rate, width=width, channels=channels, audio=audio[i:i + chunk]).event())
        await c.write_event(AudioStop().event())
        while True:
            e = await asyncio.wait_for(c.read_event(), 60)
            assert e is not None, "connection closed before the transcript"
            if Transcript.is_type(e.type):
                return Transcript.from_event(e).text
            if Error.is_type(e.type):
                raise AssertionError(Error.from_event(e).text)


def words(t):
    return "".join(c.lower() if c.isalnum() else " " for c in t).split()


async def main():
    if scenario == "describe":
        async with AsyncTcpClient(host, port) as c:
            await c.write_event(Describe().event())
            e = await asyncio.wait_for(c.read_event(), 10)
            info = Info.from_event(e)
        assert info.asr and info.tts, info
        assert [m.name for m in info.asr[0].models] == ["tiny.en"] and info.asr[0].models[0].languages == ["en"], info.asr
        assert [v.name for v in info.tts[0].voices] == ["en_US-joe-medium"] and info.tts[0].installed, info.tts
        print("ok: info", info.asr[0].name, [m.name for m in info.asr[0].models], info.tts[0].name, [v.name for v in info.tts[0].voices])
    elif scenario == "roundtrip":
        start, audio, n = await synthesize("Please turn on the kitchen lights.", voice="en_US-joe-medium")
        assert start.rate == 22050 and start.width == 2 and start.channels == 1, start
        seconds = len(audio) / 2 / start.rate
        assert 1.0 < seconds < 6 and n >= 2, (seconds, n)
        print(f"ok: synthesize {seconds:.2f} s in {n} chunks")
        text = await transcribe(audio, start.rate)
        w = words(text)
        assert "kitchen" in w and "lights" in w, text
        print("ok: transcribe at 22050 Hz:", text)
        # Stereo 16 kHz (the server mixes down) gives the same words.
        import array
        mono = array.array("h", audio)
        down = array.array("h", [mono[int(i * 22050 / 16000)] for i in range(int(len(mono) * 16000 / 22050))])
        stereo = array.array("h", [s for v in down for s in (v, v)])
        text2 = await transcribe(stereo.tobytes(), 16000, channels=2)
        assert "kitchen" in words(text2), text2
        print("ok: transcribe stereo 16000 Hz:", text2)
    elif scenario == "bad":
        # Unsupported audio: an error event, and the connection still answers.
        async with AsyncTcpClient(host, port) as c:
            await c.write_event(AudioStart(rate=16000, width=3, channels=1).event())
            e = await asyncio.wait_for(c.read_event(), 10)
            assert Error.is_type(e.type) and "width 3" in Error.from_event(e).text, e
            await c.write_event(Describe().event())
            e = await asyncio.wait_for(c.read_event(), 10)
            assert Info.is_type(e.type), e
        print("ok: width 3 → error, connection goes on")
        # Garbage and absurd lengths: an error event, then the server closes that connection.
        for junk in [b"this is not json\n", b'{"type": "audio-chunk", "payload_length": 99999999999}\n']:
            s = socket.create_connection((host, port))
            s.sendall(junk)
            s.settimeout(10)
            got = b""
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
            s.close()
            header = json.loads(got.split(b"\n")[0])
            assert header["type"] == "error", got
            print("ok: closed after", junk[:30], got[:120])
        # Still serving.
        _, audio, _ = await synthesize("Still here.")
        assert len(audio) > 10000
        print("ok: still serving")
    else:
        raise SystemExit(f"unknown scenario {scenario}")


asyncio.run(main())
