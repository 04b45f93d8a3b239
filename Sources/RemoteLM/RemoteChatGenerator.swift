import AsyncHTTPClient
import Engine
import Foundation
import NIOCore
import NIOHTTP1

/// Where and how to reach an OpenAI-compatible Chat Completions server (Ollama, llama.cpp's server, vLLM,
/// `confab serve`, OpenAI itself).
public struct RemoteChatSettings: Sendable {
    /// The server's base URL (`http://host:11434/v1`, `http://host:8080`) or the full `…/chat/completions` URL.
    public var url: String
    /// The model name sent in each request; nil asks the server's `/v1/models` once and takes the first.
    public var model: String?
    /// Sent as `Authorization: Bearer …` when set.
    public var apiKey: String?
    /// Seconds to open the TCP connection.
    public var connectTimeout: Double = 5
    /// Seconds from the request to the reply's first bytes, and the longest silence between bytes after that.
    public var firstByteTimeout: Double = 60
    public var maxTokens: Int? = nil
    public var temperature: Float? = nil
    public var topP: Float? = nil
    public var seed: UInt64? = nil
    public var stop: [String] = []
    /// Used when the conversation has no system message of its own (as the local model does).
    public var systemPrompt: String? = defaultSpokenSystemPrompt

    public init(url: String, model: String? = nil, apiKey: String? = nil) {
        self.url = url; self.model = model; self.apiKey = apiKey
    }

    /// The key from the environment: CONFAB_API_KEY, else OPENAI_API_KEY.
    public static func apiKeyFromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        for name in ["CONFAB_API_KEY", "OPENAI_API_KEY"] {
            if let v = env[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty { return v }
        }
        return nil
    }
}

/// What went wrong with the remote language model, as one line.
public struct RemoteLMError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case badURL, unreachable, timeout, unauthorized, unknownModel, rateLimited, serverError, httpError,
             malformedStream, truncatedStream, connectionDropped
    }
    public let kind: Kind
    public let message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { message }
}

/// Timings of the last remote reply.
public struct RemoteReplyStats: Sendable, Equatable {
    public var timeToFirstByte = 0.0      // request sent → response head
    public var timeToFirstToken = 0.0     // request sent → first text piece
    public var seconds = 0.0
    public var pieces = 0
    public var promptTokens: Int?         // from the server's usage, when it sends one
    public var completionTokens: Int?
    public var finishReason: String?
    public init() {}
}

/// `ResponseGenerating` over HTTP: OpenAI Chat Completions with `stream: true` (server-sent events).
/// Cancelling the consumer cancels the HTTP request (the connection is closed, so the server stops generating).
public final class RemoteChatGenerator: ResponseGenerating, @unchecked Sendable {
    public let settings: RemoteChatSettings
    public let endpoint: URL
    private let client: HTTPClient
    private let lock = NSLock()
    private var resolvedModel: String?
    private var _lastStats = RemoteReplyStats()
    public var lastStats: RemoteReplyStats { lock.withLock { _lastStats } }

    /// Longest error body read from a failed response, and longest single server-sent event.
    static let errorBodyLimit = 64 * 1024
    static let eventLimit = 1 << 20

    public init(_ settings: RemoteChatSettings) throws {
        self.settings = settings
        endpoint = try Self.completionsURL(settings.url)
        resolvedModel = settings.model
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .milliseconds(Int64(settings.connectTimeout * 1000)),
                               read: .milliseconds(Int64(settings.firstByteTimeout * 1000)))
        config.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    deinit {
        let c = client
        c.shutdown { _ in }
    }

    /// `…/chat/completions` from a base URL: kept when given whole, appended to a URL ending in `/v1`,
    /// `/v1/chat/completions` appended to a bare host.
    public static func completionsURL(_ text: String) throws -> URL {
        guard let u = URL(string: text.trimmingCharacters(in: .whitespaces)), let scheme = u.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = u.host, !host.isEmpty else {
            throw RemoteLMError(.badURL, "--llm-url \(text): not an http:// or https:// URL")
        }
        var path = u.path
        while path.hasSuffix("/") { path.removeLast() }
        if path.hasSuffix("/chat/completions") { return u }
        if !path.hasSuffix("/v1") { path += "/v1" }
        var c = URLComponents(url: u, resolvingAgainstBaseURL: false)!
        c.path = path + "/chat/completions"
        return c.url!
    }

    var modelsURL: URL {
        var c = URLComponents(url: endpoint, resolvingAgainstBaseURL: false)!
        c.path = String(c.path.dropLast("/chat/completions".count)) + "/models"
        return c.url!
    }

    public var host: String { endpoint.host.map { h in endpoint.port.map { "\(h):\($0)" } ?? h } ?? endpoint.absoluteString }

    // MARK: ResponseGenerating

    public func reply(to messages: [ChatMessage]) -> AsyncThrowingStream<String, Error> {
        let (stream, continuation) = AsyncThrowingStream<String, Error>.makeStream()
        let task = Task { [self] in
            do {
                try await self.stream(messages) { continuation.yield($0) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: Task.isCancelled ? CancellationError() : error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: the request

    /// The model to name: the one given, else the first the server lists (asked once).
    public func model() async throws -> String {
        if let m = lock.withLock({ resolvedModel }) { return m }
        var request = HTTPClientRequest(url: modelsURL.absoluteString)
        addAuthorization(&request)
        let response = try await send(request)
        let body = try await Self.collect(response.body, limit: Self.errorBodyLimit * 16)
        guard response.status == .ok else { throw Self.httpError(response.status, body: body, host: host, model: nil) }
        guard let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let data = json["data"] as? [[String: Any]], let first = data.first?["id"] as? String else {
            throw RemoteLMError(.malformedStream, "\(host): /models lists no model; name one with --llm-model")
        }
        lock.withLock { resolvedModel = first }
        return first
    }

    func requestBody(_ messages: [ChatMessage], model: String) throws -> Data {
        var msgs = messages
        if !msgs.contains(where: { $0.role == .system }), let s = settings.systemPrompt, !s.isEmpty {
            msgs.insert(ChatMessage(.system, s), at: 0)
        }
        var o: [String: Any] = [
            "model": model, "stream": true,
            "messages": msgs.map { ["role": $0.role.rawValue, "content": $0.content] },
        ]
        if let v = settings.maxTokens { o["max_tokens"] = v }
        if let v = settings.temperature { o["temperature"] = Double(v) }
        if let v = settings.topP { o["top_p"] = Double(v) }
        if let v = settings.seed { o["seed"] = v }
        if !settings.stop.isEmpty { o["stop"] = settings.stop }
        return try JSONSerialization.data(withJSONObject: o)
    }

    private func addAuthorization(_ request: inout HTTPClientRequest) {
        if let key = settings.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
    }

    /// Sends a request; the deadline covers the connection and the response head.
    private func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        do {
            return try await client.execute(request, timeout: .milliseconds(Int64((settings.connectTimeout + settings.firstByteTimeout) * 1000)))
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw Self.describe(error, host: host, beforeReply: true, settings: settings)
        }
    }

    /// Streams one reply's text pieces to `onText`.
    public func stream(_ messages: [ChatMessage], onText: (String) -> Void) async throws {
        let t0 = Date()
        var stats = RemoteReplyStats()
        defer { stats.seconds = Date().timeIntervalSince(t0); let s = stats; lock.withLock { _lastStats = s } }
        let model = try await model()
        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "text/event-stream")
        addAuthorization(&request)
        request.body = .bytes(ByteBuffer(bytes: Array(try requestBody(messages, model: model))))
        let response = try await send(request)
        stats.timeToFirstByte = Date().timeIntervalSince(t0)
        guard response.status == .ok else {
            let body = (try? await Self.collect(response.body, limit: Self.errorBodyLimit)) ?? ByteBuffer()
            throw Self.httpError(response.status, body: body, host: host, model: model)
        }
        func emit(_ s: String) {
            guard !s.isEmpty else { return }
            if stats.pieces == 0 { stats.timeToFirstToken = Date().timeIntervalSince(t0) }
            stats.pieces += 1
            onText(s)
        }
        let contentType = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
        if contentType.contains("application/json") {
            // A server that ignores `stream`: one whole completion.
            let body = try await collectReply(response.body, limit: Self.eventLimit * 4)
            let event = try ChatStreamParser.completion(body, host: host)
            stats.finishReason = event.finishReason
            stats.promptTokens = event.promptTokens; stats.completionTokens = event.completionTokens
            emit(event.text)
            return
        }
        var parser = ChatStreamParser(host: host, eventLimit: Self.eventLimit)
        do {
            for try await chunk in response.body {
                try Task.checkCancellation()
                for event in try parser.push(chunk) {
                    if let r = event.finishReason { stats.finishReason = r }
                    if let p = event.promptTokens { stats.promptTokens = p }
                    if let c = event.completionTokens { stats.completionTokens = c }
                    emit(event.text)
                }
                if parser.done { break }
            }
        } catch let e as RemoteLMError { throw e
        } catch {
            if Task.isCancelled || error is CancellationError { throw CancellationError() }
            throw Self.describe(error, host: host, beforeReply: false, settings: settings)
        }
        try parser.finish()
    }

    private func collectReply(_ body: HTTPClientResponse.Body, limit: Int) async throws -> ByteBuffer {
        do { return try await Self.collect(body, limit: limit) } catch let e as RemoteLMError { throw e } catch {
            if Task.isCancelled { throw CancellationError() }
            throw Self.describe(error, host: host, beforeReply: false, settings: settings)
        }
    }

    static func collect(_ body: HTTPClientResponse.Body, limit: Int) async throws -> ByteBuffer {
        var all = ByteBuffer()
        for try await var chunk in body {
            guard all.readableBytes + chunk.readableBytes <= limit else {
                throw RemoteLMError(.malformedStream, "the server's reply is larger than \(limit / 1024) KiB")
            }
            all.writeBuffer(&chunk)
        }
        return all
    }

    // MARK: errors as one line

    static func serverMessage(_ body: ByteBuffer) -> String? {
        let data = Data(body.readableBytesView)
        if let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            if let e = json["error"] as? [String: Any], let m = e["message"] as? String { return oneLine(m) }
            if let m = json["error"] as? String { return oneLine(m) }
            if let m = json["message"] as? String { return oneLine(m) }
            if let m = json["detail"] as? String { return oneLine(m) }
        }
        let text = oneLine(String(decoding: data, as: UTF8.self))
        return text.isEmpty ? nil : text
    }

    static func oneLine(_ s: String, limit: Int = 200) -> String {
        let flat = s.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
        return flat.count > limit ? String(flat.prefix(limit)) + "…" : flat
    }

    static func httpError(_ status: HTTPResponseStatus, body: ByteBuffer, host: String, model: String?) -> RemoteLMError {
        let said = serverMessage(body).map { ": \($0)" } ?? ""
        let code = "\(status.code)"
        switch status.code {
        case 401, 403:
            return RemoteLMError(.unauthorized, "\(host) refused the API key (\(code))\(said); set CONFAB_API_KEY or OPENAI_API_KEY")
        case 404:
            let what = model.map { "unknown model '\($0)' or wrong URL" } ?? "wrong URL"
            return RemoteLMError(.unknownModel, "\(host): \(what) (404)\(said)")
        case 429:
            return RemoteLMError(.rateLimited, "\(host) is busy or rate-limited (429)\(said); try again shortly")
        case 500...599:
            return RemoteLMError(.serverError, "\(host) failed with a server error (\(code))\(said)")
        default:
            if status.code == 400, let model, said.lowercased().contains("model") {
                return RemoteLMError(.unknownModel, "\(host): model '\(model)' rejected (400)\(said)")
            }
            return RemoteLMError(.httpError, "\(host) answered \(code) \(status.reasonPhrase)\(said)")
        }
    }

    static func describe(_ error: Error, host: String, beforeReply: Bool, settings: RemoteChatSettings) -> Error {
        if error is RemoteLMError || error is CancellationError { return error }
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout:
                return RemoteLMError(.timeout, "\(host): no connection within \(fmt(settings.connectTimeout)) s (is the server up?)")
            case .deadlineExceeded, .readTimeout:
                return beforeReply
                    ? RemoteLMError(.timeout, "\(host): no answer within \(fmt(settings.firstByteTimeout)) s")
                    : RemoteLMError(.timeout, "\(host) stopped sending for \(fmt(settings.firstByteTimeout)) s mid-reply")
            case .remoteConnectionClosed:
                return beforeReply
                    ? RemoteLMError(.connectionDropped, "\(host) closed the connection before answering")
                    : RemoteLMError(.connectionDropped, "\(host) dropped the connection mid-reply")
            case .cancelled:
                return CancellationError()
            default: break
            }
        }
        let text = oneLine("\(error)")
        if beforeReply {
            if text.lowercased().contains("refused") {
                return RemoteLMError(.unreachable, "cannot reach \(host): connection refused (is the server running?)")
            }
            return RemoteLMError(.unreachable, "cannot reach \(host): \(text)")
        }
        return RemoteLMError(.connectionDropped, "\(host): the reply broke off: \(text)")
    }

    static func fmt(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(format: "%.1f", s) }
}

/// One decoded piece of a Chat Completions stream.
public struct ChatStreamEvent: Sendable, Equatable {
    public var text = ""
    public var finishReason: String?
    public var promptTokens: Int?
    public var completionTokens: Int?
}

/// Server-sent events → Chat Completions chunks. Bytes may arrive split anywhere (even inside a UTF-8
/// character); one event is at most `eventLimit` bytes.
public struct ChatStreamParser: Sendable {
    let host: String
    let eventLimit: Int
    private var pending: [UInt8] = []          // bytes of the line being read
    private var data: [UInt8] = []             // the event's data lines so far
    private var hasData = false
    public private(set) var done = false       // `data: [DONE]` seen
    public private(set) var sawFinish = false  // a choice with a finish_reason seen
    public private(set) var events = 0

    public init(host: String, eventLimit: Int = 1 << 20) { self.host = host; self.eventLimit = eventLimit }

    public mutating func push(_ buffer: ByteBuffer) throws -> [ChatStreamEvent] {
        try push(Array(buffer.readableBytesView))
    }

    public mutating func push(_ bytes: [UInt8]) throws -> [ChatStreamEvent] {
        var out: [ChatStreamEvent] = []
        for b in bytes {
            if done { break }
            if b == 0x0A {
                if pending.last == 0x0D { pending.removeLast() }
                if let e = try line(pending) { out.append(e) }
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(b)
                if pending.count + data.count > eventLimit {
                    throw RemoteLMError(.malformedStream, "\(host): malformed stream (an event longer than \(eventLimit / 1024) KiB)")
                }
            }
        }
        return out
    }

    /// The stream ended: an event without its blank line is still taken; no `[DONE]` and no finish is a truncation.
    public mutating func finish() throws {
        if !done, !pending.isEmpty { _ = try line(pending); pending.removeAll() }
        if !done, hasData { _ = try dispatch() }
        if !done && !sawFinish {
            throw RemoteLMError(.truncatedStream, events == 0
                ? "\(host): the stream ended before any reply"
                : "\(host): the stream ended mid-reply (no finish and no [DONE])")
        }
    }

    private mutating func line(_ l: [UInt8]) throws -> ChatStreamEvent? {
        if l.isEmpty { return hasData ? try dispatch() : nil }
        if l.first == UInt8(ascii: ":") { return nil }                     // comment / keep-alive
        let colon = l.firstIndex(of: UInt8(ascii: ":")) ?? l.endIndex
        let field = String(decoding: l[..<colon], as: UTF8.self)
        var value = colon < l.endIndex ? l[(colon + 1)...] : []
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        switch field {
        case "data":
            if hasData { data.append(0x0A) }
            data += value; hasData = true
        case "event", "id", "retry": break
        default:
            // Not SSE at all (an HTML error page, JSON without `data:`).
            if events == 0 && !hasData {
                throw RemoteLMError(.malformedStream, "\(host): malformed stream (not server-sent events: \(RemoteChatGenerator.oneLine(String(decoding: l.prefix(80), as: UTF8.self))))")
            }
        }
        return nil
    }

    private mutating func dispatch() throws -> ChatStreamEvent? {
        defer { data.removeAll(keepingCapacity: true); hasData = false }
        let bytes = data
        if bytes.elementsEqual("[DONE]".utf8) { done = true; return nil }
        events += 1
        guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw RemoteLMError(.malformedStream, "\(host): malformed stream (an event is not JSON: \(RemoteChatGenerator.oneLine(String(decoding: bytes.prefix(80), as: UTF8.self))))")
        }
        if let err = obj["error"] {
            let m = (err as? [String: Any])?["message"] as? String ?? (err as? String) ?? "unknown error"
            throw RemoteLMError(.serverError, "\(host) failed mid-reply: \(RemoteChatGenerator.oneLine(m))")
        }
        var e = ChatStreamEvent()
        if let usage = obj["usage"] as? [String: Any] {
            e.promptTokens = (usage["prompt_tokens"] as? NSNumber)?.intValue
            e.completionTokens = (usage["completion_tokens"] as? NSNumber)?.intValue
        }
        if let choices = obj["choices"] as? [[String: Any]], let c = choices.first {
            if let delta = c["delta"] as? [String: Any], let t = delta["content"] as? String { e.text = t }
            else if let t = c["text"] as? String { e.text = t }
            if let r = c["finish_reason"] as? String { e.finishReason = r; sawFinish = true }
        } else if obj["usage"] == nil {
            throw RemoteLMError(.malformedStream, "\(host): malformed stream (a chunk without choices)")
        }
        return e
    }

    /// A whole (non-streamed) completion.
    public static func completion(_ body: ByteBuffer, host: String) throws -> ChatStreamEvent {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let choices = obj["choices"] as? [[String: Any]], let c = choices.first,
              let m = c["message"] as? [String: Any] else {
            throw RemoteLMError(.malformedStream, "\(host): malformed reply (not a chat completion)")
        }
        var e = ChatStreamEvent()
        e.text = m["content"] as? String ?? ""
        e.finishReason = c["finish_reason"] as? String
        if let usage = obj["usage"] as? [String: Any] {
            e.promptTokens = (usage["prompt_tokens"] as? NSNumber)?.intValue
            e.completionTokens = (usage["completion_tokens"] as? NSNumber)?.intValue
        }
        return e
    }
}
