"""Bad input against `confab serve`, with raw sockets and http.client (what a broken or hostile client sends).
Usage: raw_http.py HOST PORT KEY SCENARIO. Prints `ok: ...`; any failure raises."""
import concurrent.futures
import http.client
import json
import socket
import sys
import time

host, port, key, scenario = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
AUTH = {"Authorization": f"Bearer {key}"}


def request(method, path, body=b"", headers=None, timeout=60):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    h = dict(AUTH)
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("Content-Type") or "", data


def error_of(status, ctype, data, want_status):
    assert status == want_status, (status, data[:300])
    assert ctype.startswith("application/json"), ctype
    e = json.loads(data)["error"]
    assert isinstance(e["message"], str) and e["message"] and "type" in e and "code" in e and "param" in e, e
    return e


def healthy():
    s, _, d = request("GET", "/health")
    assert s == 200 and d == b"ok\n", (s, d)
    s, _, d = request("POST", "/v1/chat/completions", json.dumps(
        {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "temperature": 0}).encode(),
        {"Content-Type": "application/json"})
    assert s == 200 and json.loads(d)["choices"][0]["message"]["content"] is not None, (s, d)


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


MP = "multipart/form-data; boundary=XyZ"

if scenario == "multipart":
    e = error_of(*request("POST", "/v1/audio/transcriptions", b"--XyZ\r\nthis is not a part header\r\n", {"Content-Type": MP}), 400)
    assert "malformed multipart" in e["message"], e
    print("ok: malformed multipart:", e["message"])
    e = error_of(*request("POST", "/v1/audio/transcriptions",
                          b'--XyZ\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF....',
                          {"Content-Type": MP}), 400)
    assert "does not end" in e["message"], e
    print("ok: truncated multipart:", e["message"])
    e = error_of(*request("POST", "/v1/audio/transcriptions", b"--XyZ--\r\n", {"Content-Type": "multipart/form-data"}), 400)
    assert "boundary" in e["message"], e
    print("ok: no boundary:", e["message"])
    e = error_of(*request("POST", "/v1/audio/transcriptions",
                          b'--XyZ\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--XyZ--\r\n', {"Content-Type": MP}), 400)
    assert e["param"] == "file", e
    print("ok: no file part:", e["message"])

elif scenario == "content_type":
    e = error_of(*request("POST", "/v1/audio/transcriptions", b'{"model":"whisper-1"}', {"Content-Type": "application/json"}), 415)
    print("ok: json to transcriptions:", e["message"])
    e = error_of(*request("POST", "/v1/chat/completions", b"model=x", {"Content-Type": "application/x-www-form-urlencoded"}), 415)
    print("ok: form to chat:", e["message"])
    e = error_of(*request("POST", "/v1/chat/completions", b"{not json", {"Content-Type": "application/json"}), 400)
    print("ok: broken JSON:", e["message"])
    e = error_of(*request("POST", "/v1/audio/speech", b"[1,2]", {"Content-Type": "application/json"}), 400)
    print("ok: JSON not an object:", e["message"])
    e = error_of(*request("GET", "/v1/nothing-here"), 404)
    print("ok: unknown route:", e["message"])

elif scenario == "oversized":
    # Declared too large: refused from the header alone.
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.putrequest("POST", "/v1/audio/transcriptions")
    for k, v in {**AUTH, "Content-Type": MP, "Content-Length": str(3 << 20)}.items():
        c.putheader(k, v)
    c.endheaders()
    r = c.getresponse()
    e = error_of(r.status, r.getheader("Content-Type"), r.read(), 413)
    c.close()
    print("ok: declared 3 MiB:", e["message"])
    # Chunked, no length: cut off while being read.
    def chunks():
        for _ in range(48):
            yield b"x" * 65536
    c = http.client.HTTPConnection(host, port, timeout=30)
    try:
        c.request("POST", "/v1/audio/transcriptions", body=chunks(), headers={**AUTH, "Content-Type": MP}, encode_chunked=True)
        r = c.getresponse()
        e = error_of(r.status, r.getheader("Content-Type"), r.read(), 413)
        print("ok: chunked 3 MiB:", e["message"])
    except (BrokenPipeError, ConnectionResetError) as ex:
        print("ok: chunked 3 MiB: connection closed while sending", ex)
    big = json.dumps({"model": "smollm2-135m", "messages": [{"role": "user", "content": "a" * (2 << 20)}]}).encode()
    e = error_of(*request("POST", "/v1/chat/completions", big, {"Content-Type": "application/json"}), 413)
    print("ok: 2 MiB of JSON:", e["message"])
    healthy()

elif scenario == "disconnect":
    # A streamed reply whose client goes away: the model must be free again soon after.
    for path, body in [("/v1/chat/completions", {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Write a very long story about a dragon."}],
                                                  "max_tokens": 4000, "temperature": 0.8, "stream": True}),
                       ("/v1/audio/speech", {"model": "tts-1", "voice": "alloy", "response_format": "pcm",
                                             "input": "This is a long text to speak. " * 60})]:
        s = socket.create_connection((host, port))
        data = json.dumps(body).encode()
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        got = s.recv(4096)
        assert got.startswith(b"HTTP/1.1 200"), got[:100]
        s.close()
        t0 = time.time()
        healthy()
        if path.endswith("speech"):
            s2, _, d = request("POST", "/v1/audio/speech", json.dumps({"model": "tts-1", "voice": "alloy", "input": "Still here.", "response_format": "pcm"}).encode(),
                               {"Content-Type": "application/json"})
            assert s2 == 200 and len(d) > 1000, s2
        dt = time.time() - t0
        assert dt < 20, f"the server took {dt:.1f} s after the client left {path}: work was not cancelled"
        print(f"ok: {path} client left; next request served in {dt:.2f} s")
    # Non-streamed: the client gives up while the reply is written.
    s = socket.create_connection((host, port))
    data = json.dumps({"model": "smollm2-135m", "messages": [{"role": "user", "content": "Tell me a long story."}], "max_tokens": 4000, "temperature": 0.8}).encode()
    s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    time.sleep(0.5)
    s.close()
    t0 = time.time()
    healthy()
    dt = time.time() - t0
    assert dt < 20, f"{dt:.1f} s: the abandoned non-streamed reply was not cancelled"
    print(f"ok: non-streamed client left; next request served in {dt:.2f} s")

elif scenario == "concurrent":
    pid = int(sys.argv[5])
    before = rss_kib(pid)
    body = json.dumps({"model": "smollm2-135m", "messages": [{"role": "user", "content": "Say one word."}], "max_tokens": 6, "temperature": 0}).encode()

    def one(i):
        try:
            return request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"}, timeout=120)[0:3:2]
        except Exception as ex:
            return ("exception", str(ex).encode())

    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(one, range(100)))
    statuses = [r[0] for r in results]
    counts = {s: statuses.count(s) for s in set(statuses)}
    assert set(counts) <= {200, 429}, counts
    assert counts.get(200, 0) >= 1 and counts.get(429, 0) >= 1, counts
    for st, d in results:
        if st == 429:
            e = json.loads(d)["error"]
            assert e["type"] == "rate_limit_error" and e["code"] == "queue_full", e
    healthy()
    after = rss_kib(pid)
    assert after - before < 300 * 1024, f"RSS grew from {before} to {after} KiB"
    print(f"ok: 100 concurrent: {counts}; RSS {before // 1024} → {after // 1024} MiB; still serving")

elif scenario == "long_audio":
    # Uploads that decode to more than the server's --max-audio-minutes (1 here): 413, naming the file, and the
    # server's memory does not grow by what they would decode to (30 min at 8 kHz: 460 MB of 16 kHz floats and more).
    pid = int(sys.argv[5])
    before = rss_kib(pid)
    for path, how in zip(sys.argv[6:], ["header", "decoding", "header"]):
        name = path.rsplit("/", 1)[-1]
        body = (b'--XyZ\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
                b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="' + name.encode() + b'"\r\n'
                b'Content-Type: application/octet-stream\r\n\r\n' + open(path, "rb").read() + b'\r\n--XyZ--\r\n')
        e = error_of(*request("POST", "/v1/audio/transcriptions", body, {"Content-Type": MP}), 413)
        assert e["code"] == "audio_too_long" and e["param"] == "file", e
        assert f"The file '{name}' is too long for this server" in e["message"] and "1 min" in e["message"], e
        assert ("by its header" in e["message"]) == (how == "header"), e
        print(f"ok: {name} ({len(body) // 1024} KiB, refused by its {how}):", e["message"])
    healthy()
    after = rss_kib(pid)
    assert after - before < 64 * 1024, f"RSS grew from {before} to {after} KiB"
    print(f"ok: RSS {before // 1024} → {after // 1024} MiB; still serving")

elif scenario == "wrong_key":
    for k in ["Bearer wrong", "", "Basic " + key, "Bearer " + key + "x"]:
        s, ct, d = request("GET", "/v1/models", headers={"Authorization": k})
        e = error_of(s, ct, d, 401)
        assert e["code"] == "invalid_api_key", e
    s, _, _ = request("GET", "/health", headers={"Authorization": ""})
    assert s == 200
    print("ok: wrong keys → 401; /health needs none")
else:
    raise SystemExit(f"unknown scenario {scenario}")
