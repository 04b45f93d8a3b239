import AudioIO
import Engine
import Foundation
import NIOCore
import NIOPosix
// The wire formats (Wyoming framing, multipart bodies) live in ServeWire, a module without NIO, so the fuzz
// targets build it alone; clients of Serve see them as before.
@_exported import ServeWire

/// The Wyoming server: speech-to-text and text-to-speech for Home Assistant's Assist, over the same models
/// (and queues) as the HTTP API.
public struct WyomingServer: Sendable {
    public let models: ServeModels
    public let config: ServeConfiguration
    public let log: @Sendable (String) -> Void

    public init(models: ServeModels, config: ServeConfiguration, log: @escaping @Sendable (String) -> Void) {
        self.models = models; self.config = config; self.log = log
    }

    public func run(host: String, port: Int, onListening: @escaping @Sendable (Int) -> Void) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        onListening(server.channel.localAddress?.port ?? 0)
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await connection in inbound {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
    }

    final class Session: @unchecked Sendable {
        var audio: [UInt8] = []
        var rate = 16000, width = 2, channels = 1
        var inAudio = false
        var asrName: String?
        var language: String?
        var events = 0
    }

    func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let peer = connection.channel.remoteAddress.map { "\($0)" } ?? "?"
        let session = Session()
        let token = CancelToken()
        do {
            try await connection.executeThenClose { inbound, outbound in
                var codec = WyomingCodec()
                func send(_ e: WyomingEvent) async throws { try await outbound.write(ByteBuffer(bytes: e.encoded())) }
                do {
                    for try await buffer in inbound {
                        for event in try codec.push(buffer.readableBytesView) {
                            session.events += 1
                            try await handle(event, session, token, send)
                        }
                    }
                } catch let e as WyomingProtocolError {
                    log("wyoming \(peer): \(e) (closing)")
                    try? await send(WyomingEvent("error", ["text": "\(e)", "code": "protocol"]))
                }
            }
        } catch {
            token.cancel()
            if !(error is CancellationError) { log("wyoming \(peer): connection ended: \(error)") }
        }
    }

    func handle(_ e: WyomingEvent, _ s: Session, _ token: CancelToken,
                _ send: (WyomingEvent) async throws -> Void) async throws {
        switch e.type {
        case "describe":
            try await send(WyomingEvent("info", info()))
            log("wyoming describe → info")
        case "ping":
            try await send(WyomingEvent("pong", (e.data["text"] as? String).map { ["text": $0] } ?? [:]))
        case "transcribe":
            s.asrName = e.data["name"] as? String
            s.language = e.data["language"] as? String
        case "audio-start":
            guard let rate = (e.data["rate"] as? NSNumber)?.intValue, let width = (e.data["width"] as? NSNumber)?.intValue,
                  let channels = (e.data["channels"] as? NSNumber)?.intValue else {
                try await send(error("audio-start needs rate, width and channels", "bad-audio")); return
            }
            guard width == 2, (1...8).contains(channels), (4000...192_000).contains(rate) else {
                try await send(error("unsupported audio: width \(width), \(channels) channels, \(rate) Hz (16-bit PCM, 1-8 channels, 4-192 kHz)", "bad-audio")); return
            }
            s.rate = rate; s.width = width; s.channels = channels; s.audio = []; s.inAudio = true
        case "audio-chunk":
            guard s.inAudio else { return }
            let limit = Int(config.wyomingMaxSeconds * Double(s.rate * s.width * s.channels))
            guard s.audio.count + e.payload.count <= limit else {
                s.inAudio = false; s.audio = []
                try await send(error("more than \(Int(config.wyomingMaxSeconds)) s of audio in one transcription", "too-long")); return
            }
            s.audio += e.payload
        case "audio-stop":
            guard s.inAudio else { return }
            s.inAudio = false
            try await transcribe(s, token, send)
        case "synthesize":
            try await synthesize(e, token, send)
        default:
            break      // events for other services (wake, intent, satellite…) are not Confab's
        }
    }

    func error(_ text: String, _ code: String) -> WyomingEvent {
        log("wyoming error: \(text)")
        return WyomingEvent("error", ["text": text, "code": code])
    }

    func transcribe(_ s: Session, _ token: CancelToken, _ send: (WyomingEvent) async throws -> Void) async throws {
        let t0 = Date()
        var samples = PCM16.floats(s.audio, channels: s.channels)
        s.audio = []
        if s.rate != 16000 { samples = Resampler.resample(samples, from: s.rate, to: 16000) }
        let audio = samples
        let queue = models.asr.first { $0.name == s.asrName } ?? models.asr[0]
        let language = s.language.map { String($0.prefix(2)).lowercased() }
        let transcript: Transcript
        do {
            transcript = try await queue.run(token) { asr, _ in
                if asr.vocab.isMultilingual {
                    asr.options.language = language.flatMap { asr.vocab.languageToken($0) != nil ? $0 : nil }
                }
                return try asr.transcribe(audio)
            }
        } catch let e as APIError {
            try await send(error(e.message, "busy")); return
        }
        let text = transcript.text.trimmingCharacters(in: .whitespacesAndNewlines)
        var data: [String: Any] = ["text": text]
        if let l = transcript.language ?? (queue.model.vocab.isMultilingual ? nil : "en") { data["language"] = l }
        try await send(WyomingEvent("transcript", data))
        log(String(format: "wyoming transcribe %.1f s of audio → %d characters in %.0f ms", Double(samples.count) / 16000, text.count, Date().timeIntervalSince(t0) * 1000))
    }

    func synthesize(_ e: WyomingEvent, _ token: CancelToken, _ send: (WyomingEvent) async throws -> Void) async throws {
        let t0 = Date()
        guard let text = e.data["text"] as? String, text.count <= 10_000 else {
            try await send(error("synthesize needs a text of at most 10000 characters", "bad-text")); return
        }
        let voiceName = (e.data["voice"] as? [String: Any])?["name"] as? String
        let voices = models.tts.model.voices
        let synth = (voices.first { $0.name == voiceName } ?? voices[0]).synth
        let rate = synth.sampleRate
        let (stream, continuation) = AsyncThrowingStream<[Float], Error>.makeStream()
        do {
            try models.tts.start(token, { _, token in
                synth.options.scales = nil
                try synth.synthesize(try synth.voice.phonemize(text)) { chunk in
                    if token.isCancelled { return false }
                    continuation.yield(chunk)
                    return true
                }
            }, done: { error in
                if let error { continuation.finish(throwing: error) } else { continuation.finish() }
            })
        } catch let e as APIError {
            try await send(error(e.message, "busy")); return
        }
        let format: [String: Any] = ["rate": rate, "width": 2, "channels": 1]
        var start = format; start["timestamp"] = 0
        try await send(WyomingEvent("audio-start", start))
        var frames = 0
        do {
            for try await chunk in stream {
                var d = format; d["timestamp"] = frames * 1000 / rate
                try await send(WyomingEvent("audio-chunk", d, payload: PCM16.bytes(chunk)))
                frames += chunk.count
            }
        } catch {
            token.cancel()
            if error is CancellationError { throw error }
            try await send(self.error("speech synthesis: \(error)", "synthesis"))
        }
        try await send(WyomingEvent("audio-stop", ["timestamp": frames * 1000 / rate]))
        log(String(format: "wyoming synthesize %d characters → %.1f s of audio in %.0f ms", text.count, Double(frames) / Double(rate), Date().timeIntervalSince(t0) * 1000))
    }

    func info() -> [String: Any] {
        let attribution: [String: Any] = ["name": "Confab", "url": ""]
        let asrModels: [[String: Any]] = models.asr.map { q in
            let langs = q.model.vocab.isMultilingual ? q.model.vocab.languages.map(\.code) : ["en"]
            return ["name": q.name, "attribution": ["name": "OpenAI Whisper", "url": "https://github.com/openai/whisper"],
                    "installed": true, "description": "Whisper \(q.name) in Confab's engine", "version": NSNull(), "languages": langs]
        }
        let voices: [[String: Any]] = models.tts.model.voices.map { v in
            let lang = v.name.split(separator: "-").first.map(String.init) ?? "en_US"
            return ["name": v.name, "attribution": ["name": "Piper", "url": "https://github.com/rhasspy/piper"],
                    "installed": true, "description": "Piper voice \(v.name) in Confab's engine", "version": NSNull(),
                    "languages": [lang], "speakers": NSNull()]
        }
        return [
            "asr": [["name": "confab-whisper", "attribution": attribution, "installed": true,
                     "description": "Confab speech recognition (Whisper)", "version": "1.0", "models": asrModels,
                     "supports_transcript_streaming": false] as [String: Any]],
            "tts": [["name": "confab-piper", "attribution": attribution, "installed": true,
                     "description": "Confab speech synthesis (Piper voices)", "version": "1.0", "voices": voices,
                     "supports_synthesize_streaming": false] as [String: Any]],
            "handle": [Any](), "intent": [Any](), "wake": [Any](), "mic": [Any](), "snd": [Any](),
        ]
    }
}
