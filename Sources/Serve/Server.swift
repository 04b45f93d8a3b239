import AudioIO
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServeWire

/// `confab serve`: OpenAI's audio and chat endpoints over Confab's models, on Hummingbird.
public struct ConfabServer: Sendable {
    public let config: ServeConfiguration
    public let models: ServeModels
    public let log: @Sendable (String) -> Void

    public init(config: ServeConfiguration, models: ServeModels, log: @escaping @Sendable (String) -> Void) {
        self.config = config; self.models = models; self.log = log
    }

    /// Serves until SIGINT/SIGTERM. `onListening` gets the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) -> Void) async throws {
        let router = Router()
        router.middlewares.add(RequestLogMiddleware(log: log))
        router.middlewares.add(OpenAIErrorMiddleware())
        if let key = config.apiKey { router.middlewares.add(BearerKeyMiddleware(key: key)) }
        addRoutes(router)
        let app = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(config.idleTimeout)))),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "confab"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: { var l = Logger(label: "confab.serve"); l.logLevel = .critical; return l }()
        )
        try await app.runService()
    }

    func addRoutes(_ router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ in "ok\n" }
        router.get("/v1/models") { _, _ in try self.listModels() }
        router.get("/v1/models/:id") { _, context in try self.listModels(only: context.parameters.get("id")) }
        router.post("/v1/audio/transcriptions") { request, _ in try await self.transcriptions(request) }
        router.post("/v1/audio/speech") { request, _ in try await self.speech(request) }
        router.post("/v1/chat/completions") { request, _ in try await self.chat(request) }
    }

    // MARK: helpers

    /// Hummingbird closes the connection after a request read while watching for the client going away:
    /// say so, so clients open a new one for the next request instead of reusing this one.
    static func closing(_ r: Response) -> Response {
        var r = r
        r.headers[.connection] = "close"
        return r
    }

    static func json(_ o: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    /// A Content-Length above the limit is refused before the body is read.
    func checkLength(_ request: Request, limit: Int) throws {
        if let v = request.headers[.contentLength], let n = Int(v), n > limit { throw APIError.tooLarge(limit) }
    }

    /// A JSON request body, read within the limit.
    func readJSON(_ request: Request, body: RequestBody? = nil) async throws -> [String: Any] {
        let ct = request.headers[.contentType]?.lowercased() ?? ""
        guard ct.hasPrefix("application/json") else { throw APIError.mediaType(request.headers[.contentType], want: "application/json") }
        try checkLength(request, limit: config.maxJSONBytes)
        let buffer: ByteBuffer
        do { buffer = try await (body ?? request.body).collect(upTo: config.maxJSONBytes) }
        catch let e as HTTPError where e.status == .contentTooLarge { throw APIError.tooLarge(config.maxJSONBytes) }
        catch is NIOTooManyBytesError { throw APIError.tooLarge(config.maxJSONBytes) }
        guard buffer.readableBytes > 0 else { throw APIError.invalid("The request body is empty (expected a JSON object)") }
        guard let o = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
            throw APIError.invalid("The request body is not a JSON object")
        }
        return o
    }

    /// Runs `op` and cancels its work (through `token`) when it takes longer than the request timeout.
    func withDeadline<T: Sendable>(_ token: CancelToken, _ op: @escaping @Sendable () async throws -> T) async throws -> T {
        let seconds = config.requestTimeout
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await op() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                token.cancel()
                throw APIError(.gatewayTimeout, "The request took longer than \(Int(seconds)) s", type: "timeout_error", code: "timeout")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    // MARK: GET /v1/models

    func listModels(only: String? = nil) throws -> Response {
        let list = models.modelList.filter { only == nil || $0.id == only }
        if let only, list.isEmpty { throw APIError.unknownModel(only, kind: "any", known: models.modelList.map(\.id)) }
        let data = list.map { ["id": $0.id, "object": "model", "created": models.created, "owned_by": "confab", "kind": $0.kind] as [String: Any] }
        if only != nil { return Self.json(data[0]) }
        return Self.json(["object": "list", "data": data])
    }

    // MARK: POST /v1/audio/transcriptions

    func transcriptions(_ request: Request) async throws -> Response {
        let ct = request.headers[.contentType]
        let boundary: String?
        do { boundary = try ct.flatMap { try MultipartForm.boundary(contentType: $0) } }
        catch { throw APIError.invalid("\(error)") }
        guard let boundary else { throw APIError.mediaType(ct, want: "multipart/form-data") }
        try checkLength(request, limit: config.maxUploadBytes)
        return try await request.body.consumeWithCancellationOnInboundClose { body in
            do { return Self.closing(try await transcribe(body, boundary: boundary)) } catch let e as APIError { return Self.closing(e.plainResponse) }
        }
    }

    func transcribe(_ body: RequestBody, boundary: String) async throws -> Response {
        do {
            let buffer: ByteBuffer
            do { buffer = try await body.collect(upTo: config.maxUploadBytes) }
            catch let e as HTTPError where e.status == .contentTooLarge { throw APIError.tooLarge(config.maxUploadBytes) }
            catch is NIOTooManyBytesError { throw APIError.tooLarge(config.maxUploadBytes) }
            let form: MultipartForm
            do { form = try MultipartForm(body: Array(buffer.readableBytesView), boundary: boundary) }
            catch { throw APIError.invalid("\(error)") }
            let queue = try models.asrQueue(form.field("model"))
            let formatName = form.field("response_format") ?? "json"
            guard let format = TranscriptFormat(rawValue: formatName) else {
                throw APIError.invalid("Unsupported response_format '\(formatName)' (json, text, verbose_json, srt or vtt)", param: "response_format")
            }
            var language = form.field("language").flatMap { $0.isEmpty ? nil : $0.lowercased() }
            if let l = language {
                let vocab = queue.model.vocab
                if !vocab.isMultilingual {
                    guard l == "en" else { throw APIError.invalid("Model '\(queue.name)' is English-only (language '\(l)')", param: "language") }
                    language = nil
                } else if vocab.languageToken(l) == nil {
                    throw APIError.invalid("Unknown language '\(l)' (an ISO-639-1 code such as en, de, fr)", param: "language")
                }
            }
            if let t = form.field("temperature"), !t.isEmpty {
                guard let v = Double(t), v >= 0, v <= 1 else { throw APIError.invalid("temperature must be a number from 0 to 1", param: "temperature") }
            }
            guard let file = form.part("file") else { throw APIError.invalid("'file' is required (a multipart file field)", param: "file") }
            guard !file.data.isEmpty else { throw APIError.invalid("The uploaded file is empty", param: "file") }
            let samples = try Self.decodeAudio(file.data, name: file.filename ?? "file", limit: AudioFile.DecodeLimit(seconds: config.maxAudioSeconds))
            let duration = Double(samples.count) / 16000
            let token = CancelToken()
            let lang = language
            let result = try await withDeadline(token) {
                try await queue.run(token) { asr, _ in
                    var o = asr.options
                    if asr.vocab.isMultilingual { o.language = lang }
                    asr.options = o
                    return try asr.transcribe(samples)
                }
            }
            let text = format.render(result, duration: duration)
            return Response(status: .ok, headers: [.contentType: format.contentType],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    /// Any audio libsndfile reads, as 16 kHz mono, decoded in bounded chunks within `limit`: longer audio is a 413
    /// naming the file (checked against the header first, then against what decodes); anything else is a 400.
    static func decodeAudio(_ bytes: [UInt8], name: String, limit: AudioFile.DecodeLimit) throws -> [Float] {
        let samples: [Float]
        do { samples = try AudioFile.readMono(bytes: bytes, name: name, sampleRate: 16000, limit: limit) } catch let e as AudioFileError {
            if e.exceedsLimit {
                throw APIError(.contentTooLarge, "The file '\(name)' is too long for this server: \(e.problem)", param: "file", code: "audio_too_long")
            }
            throw APIError.invalid("The file '\(name)' is not audio this server can read: \(e.problem)", param: "file")
        }
        guard !samples.isEmpty else { throw APIError.invalid("The file '\(name)' holds no audio (zero length)", param: "file") }
        return samples
    }

    // MARK: POST /v1/audio/speech

    func speech(_ request: Request) async throws -> Response {
        let o = try await readJSON(request)
        guard let input = o["input"] as? String else { throw APIError.invalid("'input' is required (the text to speak)", param: "input") }
        guard input.count <= 4096 else { throw APIError.invalid("'input' is longer than 4096 characters", param: "input") }
        guard input.contains(where: { $0.isLetter || $0.isNumber }) else {
            throw APIError.invalid("'input' has nothing to speak", param: "input")
        }
        let (_, synth) = try models.voice(model: o["model"] as? String, voice: o["voice"] as? String)
        let formatName = (o["response_format"] as? String) ?? "wav"
        guard let format = SpeechFormat(rawValue: formatName) else {
            throw APIError.invalid("Unsupported response_format '\(formatName)' (wav, pcm or flac)", param: "response_format")
        }
        var speed = 1.0
        if let s = o["speed"] {
            guard let v = (s as? NSNumber)?.doubleValue, v >= 0.25, v <= 4 else {
                throw APIError.invalid("speed must be a number from 0.25 to 4", param: "speed")
            }
            speed = v
        }
        let token = CancelToken()
        let (stream, continuation) = AsyncThrowingStream<[Float], Error>.makeStream()
        let rate = synth.sampleRate
        let speedFactor = Float(speed)
        try models.tts.start(token, { _, token in
            var scales = synth.voice.defaultScales
            scales.lengthScale /= speedFactor
            synth.options.scales = scales
            let sentences = try synth.voice.phonemize(input)
            guard !sentences.isEmpty else { throw APIError.invalid("'input' has nothing to speak", param: "input") }
            try synth.synthesize(sentences) { chunk in
                if token.isCancelled { return false }
                continuation.yield(chunk)
                return true
            }
        }, done: { error in
            if let error { continuation.finish(throwing: error) } else { continuation.finish() }
        })
        // The first audio before the head: a failure up to there is still a proper error response.
        let iterator = IteratorBox(stream.makeAsyncIterator())
        let first: [Float]?
        do { first = try await iterator.next() } catch { token.cancel(); throw error }
        if format == .flac {
            var all = first ?? []
            do { while let c = try await iterator.next() { all += c } } catch { token.cancel(); throw error }
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("confab-speech-\(UUID().uuidString).flac").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            try AudioFile.write(path, samples: all, sampleRate: rate, format: .flac16)
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return Response(status: .ok, headers: [.contentType: format.contentType], body: .init(byteBuffer: ByteBuffer(data: data)))
        }
        var headers: HTTPFields = [.contentType: format.contentType]
        headers[HTTPField.Name("X-Sample-Rate")!] = "\(rate)"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            do {
                var bytes = format == .wav ? PCM16.streamingWAVHeader(sampleRate: rate) : []
                bytes += PCM16.bytes(first ?? [])
                try await writer.write(ByteBuffer(bytes: bytes))
                while let chunk = try await iterator.next() {
                    try await writer.write(ByteBuffer(bytes: PCM16.bytes(chunk)))
                }
                try await writer.finish(nil)
            } catch {
                token.cancel()
                throw error
            }
        })
    }

    // MARK: POST /v1/chat/completions

    struct ChatRequest: Sendable {
        var messages: [ChatMessage]
        var sampling: SamplingParameters
        var stream: Bool
        var includeUsage: Bool
    }

    func parseChat(_ o: [String: Any]) throws -> ChatRequest {
        guard let raw = o["messages"] as? [Any], !raw.isEmpty else {
            throw APIError.invalid("'messages' is required: a non-empty array of {role, content}", param: "messages")
        }
        guard raw.count <= 1000 else { throw APIError.invalid("'messages' has more than 1000 entries", param: "messages") }
        var messages: [ChatMessage] = []
        for (i, m) in raw.enumerated() {
            guard let m = m as? [String: Any], let roleName = m["role"] as? String else {
                throw APIError.invalid("messages[\(i)] is not an object with a 'role'", param: "messages")
            }
            let role: ChatMessage.Role
            switch roleName {
            case "system", "developer": role = .system
            case "user": role = .user
            case "assistant": role = .assistant
            default: throw APIError.invalid("messages[\(i)].role '\(roleName)' is not supported (system, developer, user or assistant)", param: "messages")
            }
            var text = ""
            if let s = m["content"] as? String { text = s }
            else if let parts = m["content"] as? [Any] {
                for p in parts {
                    guard let p = p as? [String: Any], p["type"] as? String == "text", let t = p["text"] as? String else {
                        throw APIError.invalid("messages[\(i)].content: only text parts are supported", param: "messages")
                    }
                    text += t
                }
            } else if m["content"] is NSNull, role == .assistant { text = "" }
            else { throw APIError.invalid("messages[\(i)].content must be a string or an array of text parts", param: "messages") }
            messages.append(ChatMessage(role, text))
        }
        guard messages.contains(where: { $0.role == .user }) else {
            throw APIError.invalid("'messages' has no user message", param: "messages")
        }
        var p = SamplingParameters()
        p.stopLoops = false   // API clients get what the reference servers give: max_tokens ends a loop
        p.temperature = 0.7; p.topK = 40; p.topP = 0.95; p.minP = 0.05; p.repeatPenalty = 1.1
        func number(_ key: String) throws -> Double? {
            guard let v = o[key], !(v is NSNull) else { return nil }
            guard let n = v as? NSNumber, !(String(cString: n.objCType) == "c") else { throw APIError.invalid("'\(key)' must be a number", param: key) }
            return n.doubleValue
        }
        if let t = try number("temperature") {
            guard t >= 0, t <= 2 else { throw APIError.invalid("temperature must be from 0 to 2", param: "temperature") }
            p.temperature = Float(t)
        }
        if let t = try number("top_p") {
            guard t > 0, t <= 1 else { throw APIError.invalid("top_p must be in (0, 1]", param: "top_p") }
            p.topP = Float(t)
        }
        if let n = try number("max_completion_tokens") ?? number("max_tokens") {
            guard n >= 1, n <= 1_048_576, n == n.rounded() else { throw APIError.invalid("max_tokens must be a positive integer", param: "max_tokens") }
            p.maxTokens = Int(n)
        }
        if let s = try number("seed") {
            guard s == s.rounded(), abs(s) < 1e18 else { throw APIError.invalid("seed must be an integer", param: "seed") }
            p.seed = UInt64(bitPattern: Int64(s))
        }
        if let s = o["stop"], !(s is NSNull) {
            if let one = s as? String { p.stop = [one] }
            else if let many = s as? [String], many.count <= 4 { p.stop = many }
            else { throw APIError.invalid("stop must be a string or an array of up to 4 strings", param: "stop") }
        }
        if let n = o["n"] as? NSNumber, n.intValue != 1 { throw APIError.invalid("only n = 1 is supported", param: "n") }
        let stream = (o["stream"] as? Bool) ?? false
        let includeUsage = ((o["stream_options"] as? [String: Any])?["include_usage"] as? Bool) ?? false
        return ChatRequest(messages: messages, sampling: p, stream: stream, includeUsage: includeUsage)
    }

    enum ChatPiece: Sendable { case text(String), done(GenerationStats) }

    static func finishReason(_ s: GenerationStats) -> String {
        switch s.stopReason { case "length", "context": return "length"; default: return "stop" }
    }

    /// Read and answered while watching the connection: a client that goes away cancels the generation.
    func chat(_ request: Request) async throws -> Response {
        let ct = request.headers[.contentType]?.lowercased() ?? ""
        guard ct.hasPrefix("application/json") else { throw APIError.mediaType(request.headers[.contentType], want: "application/json") }
        try checkLength(request, limit: config.maxJSONBytes)
        return try await request.body.consumeWithCancellationOnInboundClose { body in
            do { return Self.closing(try await chat(request, body)) } catch let e as APIError { return Self.closing(e.plainResponse) }
        }
    }

    func chat(_ request: Request, _ body: RequestBody) async throws -> Response {
        let o = try await readJSON(request, body: body)
        let queue = try models.llmQueue(o["model"] as? String)
        let r = try parseChat(o)
        let id = "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        let created = Int(Date().timeIntervalSince1970)
        let model = queue.name
        let token = CancelToken()
        @Sendable func usage(_ s: GenerationStats) -> [String: Any] {
            ["prompt_tokens": s.promptTokens, "completion_tokens": s.generatedTokens, "total_tokens": s.promptTokens + s.generatedTokens]
        }
        @Sendable func generate(_ g: LlamaGenerator, _ token: CancelToken, _ onText: (String) -> Void) throws -> GenerationStats {
            g.sampling = r.sampling
            do {
                return try g.generate(r.messages, isCancelled: { token.isCancelled }, onText: onText)
            } catch let e as LanguageModelError {
                throw APIError.invalid("\(e)", param: "messages")
            }
        }
        if !r.stream {
            let (text, stats) = try await withDeadline(token) {
                try await queue.run(token) { g, token -> (String, GenerationStats) in
                    var text = ""
                    let s = try generate(g, token) { text += $0 }
                    return (text, s)
                }
            }
            return Self.json([
                "id": id, "object": "chat.completion", "created": created, "model": model,
                "choices": [["index": 0, "message": ["role": "assistant", "content": text], "finish_reason": Self.finishReason(stats)] as [String: Any]],
                "usage": usage(stats),
            ])
        }
        let (stream, continuation) = AsyncThrowingStream<ChatPiece, Error>.makeStream()
        try queue.start(token, { g, token in
            let s = try generate(g, token) { continuation.yield(.text($0)) }
            continuation.yield(.done(s))
        }, done: { error in
            if let error { continuation.finish(throwing: error) } else { continuation.finish() }
        })
        let includeUsage = r.includeUsage
        @Sendable func chunk(_ delta: [String: Any], finish: String?) -> ByteBuffer {
            let o: [String: Any] = ["id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                                    "choices": [["index": 0, "delta": delta, "finish_reason": finish ?? NSNull()] as [String: Any]]]
            return ByteBuffer(string: "data: " + TranscriptFormat.json(o) + "\n\n")
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody { writer in
            do {
                try await writer.write(chunk(["role": "assistant", "content": ""], finish: nil))
                for try await piece in stream {
                    switch piece {
                    case .text(let t):
                        try await writer.write(chunk(["content": t], finish: nil))
                    case .done(let s):
                        try await writer.write(chunk([:], finish: Self.finishReason(s)))
                        if includeUsage {
                            let u: [String: Any] = ["id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                                                    "choices": [Any](), "usage": usage(s)]
                            try await writer.write(ByteBuffer(string: "data: " + TranscriptFormat.json(u) + "\n\n"))
                        }
                    }
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            } catch let e as APIError {
                // Mid-stream: the error as an event in the stream, as OpenAI does.
                token.cancel()
                try await writer.write(ByteBuffer(string: "data: " + String(decoding: e.body, as: UTF8.self) + "\n\n"))
            } catch {
                token.cancel()
                throw error
            }
            try await writer.finish(nil)
        })
    }
}

/// An async iterator handed from the handler to the response body (one consumer at a time).
final class IteratorBox<Element: Sendable>: @unchecked Sendable {
    private var it: AsyncThrowingStream<Element, Error>.AsyncIterator
    init(_ it: AsyncThrowingStream<Element, Error>.AsyncIterator) { self.it = it }
    func next() async throws -> Element? { try await it.next() }
}
