import Engine
import Foundation

/// What `confab serve` serves and how.
public struct ServeConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8000
    public var apiKey: String?
    /// Model names from the store (or paths); the first of each kind is the default.
    public var asrModels = ["tiny.en"]
    public var voices = ["en_US-joe-medium"]
    /// Default: the conversation's default language model (the 1.5B, or the 0.5B where memory is short).
    public var llms = [DefaultLanguageModel.currentName]
    /// Requests that may wait for a busy model, beyond the one it is working on; more get 429.
    public var maxWaiting = 4
    /// Largest request bodies: an uploaded audio file, and a JSON request.
    public var maxUploadBytes = 25 << 20
    public var maxJSONBytes = 1 << 20
    /// Longest audio one uploaded file may decode to, in seconds (a small FLAC or Ogg file can hold hours).
    public var maxAudioSeconds: Double = 30 * 60
    /// Longest a request may take once read (waiting included); then 504.
    public var requestTimeout: Double = 300
    /// A connection with no traffic for this long is closed (a client that stops sending mid-body).
    public var idleTimeout: Double = 30
    /// Largest context the language models get.
    public var contextLimit = 4096
    /// The Wyoming server's address (nil: none).
    public var wyomingHost: String?
    public var wyomingPort: Int?
    /// Longest audio one Wyoming transcription takes, in seconds.
    public var wyomingMaxSeconds: Double = 300
    public init() {}
}

/// The voices are one queue: espeak-ng's phonemizer is one per process.
public final class VoiceSet: @unchecked Sendable {
    public let voices: [(name: String, synth: PiperSynthesizer)]
    init(_ voices: [(name: String, synth: PiperSynthesizer)]) { self.voices = voices }
    func named(_ n: String) -> PiperSynthesizer? { voices.first { $0.name == n }?.synth }
}

/// The loaded models, each behind its queue.
public final class ServeModels: @unchecked Sendable {
    public let asr: [ModelQueue<WhisperTranscriber>]
    public let tts: ModelQueue<VoiceSet>
    public let llm: [ModelQueue<LlamaGenerator>]
    public let created = Int(Date().timeIntervalSince1970)

    public init(asr: [ModelQueue<WhisperTranscriber>], tts: ModelQueue<VoiceSet>, llm: [ModelQueue<LlamaGenerator>]) {
        self.asr = asr; self.tts = tts; self.llm = llm
    }

    /// Loads every model the configuration names, printing one line each to `log`.
    public static func load(_ c: ServeConfiguration, log: (String) -> Void) throws -> ServeModels {
        let store = try ModelStore()
        func timed<T>(_ what: String, _ name: String, _ body: () throws -> T) throws -> T {
            let t0 = Date()
            do {
                let v = try body()
                log(String(format: "loaded %@ %@ in %.1f s", what, name, Date().timeIntervalSince(t0)))
                return v
            } catch { throw ServeError("\(what) \(name): \(error)") }
        }
        let asr = try c.asrModels.map { n in
            ModelQueue(name: n, model: try timed("speech recognition", n) { try WhisperTranscriber(directory: try store.resolve(n, kind: .whisper)) },
                       maxWaiting: c.maxWaiting)
        }
        let voices = try c.voices.map { n in (name: n, synth: try timed("voice", n) { try PiperSynthesizer(voice: n) }) }
        let llm = try c.llms.map { n in
            ModelQueue(name: n, model: try timed("language model", n) {
                try LlamaGenerator(model: n, contextLimit: c.contextLimit, systemPrompt: nil)
            }, maxWaiting: c.maxWaiting)
        }
        return ServeModels(asr: asr, tts: ModelQueue(name: "voices", model: VoiceSet(voices), maxWaiting: c.maxWaiting), llm: llm)
    }

    // MARK: names

    static let asrAliases = ["whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"]
    static let ttsAliases = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts"]
    /// OpenAI's voice names: any of them is the default voice.
    static let openAIVoices: Set<String> = ["alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                                            "shimmer", "verse", "marin", "cedar"]

    func asrQueue(_ model: String?) throws -> ModelQueue<WhisperTranscriber> {
        guard let model, !model.isEmpty else { throw APIError.invalid("'model' is required", param: "model") }
        if Self.asrAliases.contains(model), let first = asr.first { return first }
        if let q = asr.first(where: { $0.name == model }) { return q }
        throw APIError.unknownModel(model, kind: "transcription", known: Self.asrAliases.prefix(1) + asr.map(\.name))
    }

    func voice(model: String?, voice: String?) throws -> (name: String, synth: PiperSynthesizer) {
        guard let model, !model.isEmpty else { throw APIError.invalid("'model' is required", param: "model") }
        let voices = tts.model.voices
        guard let first = voices.first else { throw APIError.internalError("no voice is loaded") }
        var chosen = first
        if let v = voices.first(where: { $0.name == model }) { chosen = v }
        else if !Self.ttsAliases.contains(model) {
            throw APIError.unknownModel(model, kind: "speech", known: Self.ttsAliases.prefix(2) + voices.map(\.name))
        }
        if let voice, !voice.isEmpty {
            if let v = voices.first(where: { $0.name == voice }) { chosen = v }
            else if !Self.openAIVoices.contains(voice.lowercased()) {
                throw APIError.invalid("Unknown voice '\(voice)' (voices: \(voices.map(\.name).joined(separator: ", ")), or any OpenAI voice name for the default)", param: "voice")
            }
        }
        return chosen
    }

    func llmQueue(_ model: String?) throws -> ModelQueue<LlamaGenerator> {
        guard let model, !model.isEmpty else { throw APIError.invalid("'model' is required", param: "model") }
        if let q = llm.first(where: { $0.name == model }) { return q }
        throw APIError.unknownModel(model, kind: "chat", known: llm.map(\.name))
    }

    /// Every name a client may use, for GET /v1/models.
    var modelList: [(id: String, kind: String)] {
        // Chat models first: clients that take the first listed model (Confab's own --llm-url without
        // --llm-model among them) get one they can chat with.
        llm.map { ($0.name, "chat") }
            + asr.map { ($0.name, "transcription") } + Self.asrAliases.prefix(1).map { ($0, "transcription") }
            + tts.model.voices.map { ($0.name, "speech") } + Self.ttsAliases.prefix(2).map { ($0, "speech") }
    }
}

public struct ServeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
