import ArgumentParser
import Engine
import Foundation
import Serve

/// `confab serve`: Confab's models behind OpenAI's API (and, with --wyoming, the Wyoming protocol).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve Confab's models over HTTP with OpenAI's API, and to Home Assistant over Wyoming.",
        discussion: """
        Endpoints, in OpenAI's shapes:
          POST /v1/audio/transcriptions  multipart: file (any audio libsndfile
               reads), model (whisper-1 or a served Whisper name), language,
               prompt, temperature, response_format json|text|verbose_json|
               srt|vtt
          POST /v1/audio/speech  JSON: model (tts-1, tts-1-hd or a voice),
               input, voice, speed, response_format wav|pcm|flac (wav and pcm
               stream as synthesized; pcm is 16-bit mono at the voice's rate,
               named in the X-Sample-Rate header; flac is sent whole)
          POST /v1/chat/completions  JSON: model, messages, max_tokens,
               temperature, top_p, stop, seed, stream (server-sent events),
               stream_options.include_usage
          GET  /v1/models  every name above
          GET  /health     "ok" (no key needed)
        Errors are OpenAI's JSON shape. A model busy with one request and
        --queue-depth waiting ones answers 429. One log line per request on
        stderr; "listening on …" (and "wyoming on …") on stdout.

        Defaults: --host 127.0.0.1  --port 8000  --asr tiny.en
                  --voice en_US-joe-medium  --llm \(DefaultLanguageModel.helpText)
                  --queue-depth 4  --max-upload-mb 25 (JSON bodies: 1 MiB)
                  --max-audio-minutes 30 (an upload that decodes to longer
                  audio, or whose header says so, gets 413; at most 8
                  channels and 30 min of 48 kHz stereo in samples)
                  --request-timeout 300  --idle-timeout 30  --ctx 4096
                  no API key (--api-key or CONFAB_SERVE_API_KEY: every /v1
                  request needs `Authorization: Bearer KEY`)
                  no Wyoming server (--wyoming 127.0.0.1:10300 starts one;
                  10300 is the convention)

        Examples:
          confab serve --port 8000 --llm smollm2-135m
          confab serve --host 0.0.0.0 --api-key s3cret --wyoming 0.0.0.0:10300
        """
    )

    @Option(help: "Address to listen on (0.0.0.0: every interface).") var host = "127.0.0.1"
    @Option(help: "HTTP port (0: any free port, printed at start).") var port = 8000
    @Option(name: .customLong("api-key"), help: "Require `Authorization: Bearer KEY` on /v1 requests (default: the CONFAB_SERVE_API_KEY variable, else none).") var apiKey: String?
    @Option(help: "Whisper models to serve (repeatable; the first is whisper-1; default: tiny.en).") var asr: [String] = []
    @Option(help: "Piper voices to serve (repeatable; the first is tts-1's voice; default: en_US-joe-medium).") var voice: [String] = []
    @Option(help: "Language models to serve (repeatable; default: the conversation's, see above).") var llm: [String] = []
    @Option(name: .customLong("queue-depth"), help: "Requests that may wait per model while it works; more get 429.") var queueDepth = 4
    @Option(name: .customLong("max-upload-mb"), help: "Largest audio upload, in MiB.") var maxUploadMB = 25
    @Option(name: .customLong("max-audio-minutes"), help: "Longest audio an uploaded file may decode to, in minutes.") var maxAudioMinutes = 30
    @Option(name: .customLong("request-timeout"), help: "Seconds a request may take (waiting included) before 504.") var requestTimeout = 300.0
    @Option(name: .customLong("idle-timeout"), help: "Seconds of silence after which a connection is closed.") var idleTimeout = 30.0
    @Option(help: "Context length cap for the language models, in tokens.") var ctx = 4096
    @Option(help: ArgumentHelp("Also serve the Wyoming protocol (Home Assistant) on HOST:PORT.", valueName: "host:port")) var wyoming: String?
    @Option(help: "Threads for the engine.") var threads: Int?
    @Flag(help: "No per-request log lines on stderr.") var quiet = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard queueDepth >= 0 else { throw ValidationError("--queue-depth must be ≥ 0") }
        guard maxUploadMB >= 1 && maxUploadMB <= 1024 else { throw ValidationError("--max-upload-mb must be 1...1024") }
        guard maxAudioMinutes >= 1 && maxAudioMinutes <= 240 else { throw ValidationError("--max-audio-minutes must be 1...240") }
        guard requestTimeout > 0, idleTimeout > 0 else { throw ValidationError("timeouts must be > 0") }
        guard ctx >= 64 else { throw ValidationError("--ctx must be ≥ 64") }
        if let w = wyoming { _ = try Self.hostPort(w) }
    }

    static func hostPort(_ s: String) throws -> (String, Int) {
        guard let colon = s.lastIndex(of: ":"), let p = Int(s[s.index(after: colon)...]), (0...65535).contains(p) else {
            throw ValidationError("--wyoming \(s): expected HOST:PORT, e.g. 127.0.0.1:10300")
        }
        var h = String(s[..<colon])
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        return (h.isEmpty ? "0.0.0.0" : h, p)
    }

    func run() async throws {
        EngineThreads.configure(threads)
        var c = ServeConfiguration()
        c.host = host; c.port = port
        c.apiKey = apiKey ?? ProcessInfo.processInfo.environment["CONFAB_SERVE_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if !asr.isEmpty { c.asrModels = asr }
        if !voice.isEmpty { c.voices = voice }
        if !llm.isEmpty { c.llms = llm }
        c.maxWaiting = queueDepth
        c.maxUploadBytes = maxUploadMB << 20
        c.maxAudioSeconds = Double(maxAudioMinutes * 60)
        c.requestTimeout = requestTimeout
        c.idleTimeout = idleTimeout
        c.contextLimit = ctx
        if let w = wyoming { let (h, p) = try Self.hostPort(w); c.wyomingHost = h; c.wyomingPort = p }
        let quiet = self.quiet
        let log: @Sendable (String) -> Void = { line in
            if !quiet { FileHandle.standardError.write(Data("confab serve: \(line)\n".utf8)) }
        }
        let models: ServeModels
        do { models = try ServeModels.load(c, log: log) } catch { throw fail(error) }
        let config = c
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let wh = config.wyomingHost, let wp = config.wyomingPort {
                    group.addTask {
                        try await WyomingServer(models: models, config: config, log: log).run(host: wh, port: wp) { port in
                            Self.announce("wyoming on tcp://\(wh):\(port)")
                        }
                    }
                }
                group.addTask {
                    try await ConfabServer(config: config, models: models, log: log).run { port in
                        Self.announce("listening on http://\(config.host):\(port)")
                    }
                }
                // The HTTP server ends on SIGINT/SIGTERM; the Wyoming one goes with it.
                try await group.next()
                group.cancelAll()
            }
        } catch {
            throw fail(ServeError("cannot serve: \(error)"))
        }
    }

    /// On stdout, flushed: scripts and tests wait for these lines (and read the port from them).
    static func announce(_ line: String) {
        FileHandle.standardOutput.write(Data("confab serve: \(line)\n".utf8))
    }
}
