"""A misbehaving OpenAI-compatible server for Confab's remote client: the first path segment picks the fault.
Usage: fake_openai.py (prints `port N`, serves until killed). Paths: /<fault>/v1/chat/completions."""
import http.server
import json
import socketserver
import sys
import time

CHUNK = 'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":%s},"finish_reason":null}]}\n\n'
FINISH = 'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def error(self, status, message, code=None):
        body = json.dumps({"error": {"message": message, "type": "x", "param": None, "code": code}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def sse_head(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

    def do_GET(self):
        if self.path.endswith("/models"):
            body = b'{"object":"list","data":[{"id":"fake-model","object":"model"}]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.error(404, "no")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        fault = self.path.split("/")[1]
        if fault == "ok":
            assert req["stream"] is True and req["messages"][0]["role"] == "system", req
            self.sse_head()
            for w in ["Hello", " there", ", ", "model ", req["model"], "."]:
                self.wfile.write((CHUNK % json.dumps(w)).encode()); self.wfile.flush()
            self.wfile.write(FINISH.encode() + b"data: [DONE]\n\n")
        elif fault == "401":
            self.error(401, "Incorrect API key provided", "invalid_api_key")
        elif fault == "404":
            self.error(404, f"The model `{req.get('model')}` does not exist", "model_not_found")
        elif fault == "429":
            self.error(429, "Rate limit reached")
        elif fault == "500":
            self.error(503, "The engine is overloaded")
        elif fault == "malformed":
            self.sse_head()
            self.wfile.write((CHUNK % json.dumps("Hi")).encode() + b"data: {this is not json\n\n")
        elif fault == "truncated":
            self.sse_head()
            self.wfile.write((CHUNK % json.dumps("Half a rep")).encode())
        elif fault == "drop":
            # A chunked reply whose connection closes mid-chunk.
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            piece = (CHUNK % json.dumps("Going")).encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece)); self.wfile.flush()
            self.wfile.write(b"400\r\npartial"); self.wfile.flush()
            self.connection.shutdown(2)
        elif fault == "html":
            self.sse_head()
            self.wfile.write(b"<html><body>Bad gateway</body></html>\n")
        elif fault == "slow":
            time.sleep(5)
            self.error(500, "too late")
        elif fault == "stall":
            self.sse_head()
            self.wfile.write((CHUNK % json.dumps("Wait")).encode()); self.wfile.flush()
            time.sleep(5)
        elif fault == "endless":
            self.sse_head()
            try:
                for i in range(100000):
                    self.wfile.write((CHUNK % json.dumps(f" w{i}")).encode()); self.wfile.flush()
                    time.sleep(0.01)
                print("endless: finished (not cancelled)", flush=True)
            except (BrokenPipeError, ConnectionResetError):
                print(f"endless: client went away after {i} chunks", flush=True)
        else:
            self.error(400, "unknown fault")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


s = Server(("127.0.0.1", 0), Handler)
print("port", s.server_address[1], flush=True)
s.serve_forever()
