import Foundation

/// A Piper voice: its config, its VITS weights and the phonemizer settings.
public final class PiperVoice: @unchecked Sendable {
    public let config: PiperConfig
    public let weights: VITSWeights
    public let modelPath: String

    /// `nameOrPath`: a model-store name (en_US-joe-medium) or a path to a voice's `.onnx`.
    public convenience init(_ nameOrPath: String) throws {
        let url = try ModelStore().resolve(nameOrPath, kind: .voice)
        try self.init(modelPath: url.path)
    }

    public init(modelPath: String, configPath: String? = nil) throws {
        self.modelPath = modelPath
        let cfgPath = configPath ?? modelPath + ".json"
        config = try PiperConfig(path: cfgPath)
        weights = try VITSWeights(try ONNXWeights(path: modelPath))
        // The config must describe this model.
        let maxId = config.phonemeIdMap.values.flatMap { $0 }.max() ?? 0
        guard maxId < weights.numSymbols else {
            throw ModelFileError(path: cfgPath, problem: "phoneme ids go up to \(maxId) but \(modelPath) has \(weights.numSymbols) symbols: config does not match the model")
        }
        if config.numSpeakers > 1 && weights.numSpeakers != config.numSpeakers {
            throw ModelFileError(path: cfgPath, problem: "config says \(config.numSpeakers) speakers, the model has \(weights.numSpeakers)")
        }
    }

    public init(config: PiperConfig, weights: VITSWeights, modelPath: String = "<memory>") {
        self.config = config; self.weights = weights; self.modelPath = modelPath
    }

    public var defaultScales: SynthesisScales {
        SynthesisScales(noiseScale: config.noiseScale, lengthScale: config.lengthScale, noiseW: config.noiseW)
    }

    /// Speakable text → Piper sentences (phonemes and ids), in order.
    public func phonemize(_ text: String) throws -> [PhonemizedSentence] {
        var out: [PhonemizedSentence] = []
        for s in SpeakableText.sentences(SpeakableText.clean(text)) where s.contains(where: { $0.isLetter || $0.isNumber }) {
            // A sentence of only punctuation (what is left of "!!!" or an emoji line) is not spoken.
            out += try EspeakPhonemizer.shared.phonemizeToIds(s, config: config).filter { sentence in
                sentence.phonemes.unicodeScalars.contains { !CharacterSet.punctuationCharacters.contains($0) && !CharacterSet.whitespaces.contains($0) }
            }
        }
        return out
    }
}

public struct SynthesisOptions: Sendable {
    public var scales: SynthesisScales?
    public var speaker = 0
    public var seed: UInt64? = nil
    /// Peak-normalize each sentence as piper1-gpl does by default.
    public var normalize = true
    public init(scales: SynthesisScales? = nil, speaker: Int = 0, seed: UInt64? = nil, normalize: Bool = true) {
        self.scales = scales; self.speaker = speaker; self.seed = seed; self.normalize = normalize
    }
}

/// The default `SpeechSynthesizing`: a Piper voice run by Confab's VITS, sentence by sentence, each sentence
/// streamed in decoder windows. Synthesis runs on one serial queue (the engine's scratch and espeak's global
/// state are single-threaded).
public final class PiperSynthesizer: SpeechSynthesizing, @unchecked Sendable {
    public let voice: PiperVoice
    public var options: SynthesisOptions
    private let vits: VITS
    private let queue = DispatchQueue(label: "confab.tts")

    public var sampleRate: Int { voice.config.sampleRate }

    public init(voice: PiperVoice, options: SynthesisOptions = SynthesisOptions()) throws {
        self.voice = voice
        self.options = options
        vits = VITS(weights: voice.weights)
        _ = try vits.speakerEmbedding(options.speaker)
    }

    public convenience init(voice nameOrPath: String = "en_US-joe-medium", options: SynthesisOptions = SynthesisOptions()) throws {
        try self.init(voice: try PiperVoice(nameOrPath), options: options)
    }

    /// Synthesizes synchronously, calling `chunk` with each decoder window of audio (return false to stop).
    /// Streamed audio is the model's tanh output as is: piper1-gpl's peak normalization needs the whole
    /// sentence, so only `synthesizeSentence` (used by `say -o`) applies it.
    public func synthesize(_ sentences: [PhonemizedSentence], chunk: ([Float]) -> Bool) throws {
        let scales = options.scales ?? voice.defaultScales
        var seed = options.seed ?? UInt64.random(in: 0...UInt64.max)
        for s in sentences {
            try Task.checkCancellation()
            var stop = false
            try vits.synthesize(ids: s.ids, scales: scales, speaker: options.speaker, seed: seed) { piece in
                stop = !chunk(piece)
                return !stop
            }
            if stop { return }
            seed = seed &+ 1
        }
    }

    /// One sentence, whole, normalized like piper1-gpl (audio / max|audio|).
    public func synthesizeSentence(_ s: PhonemizedSentence, seed: UInt64 = 0, windowed: Bool = true) throws -> [Float] {
        let scales = options.scales ?? voice.defaultScales
        var a = try vits.synthesize(ids: s.ids, scales: scales, speaker: options.speaker, seed: seed, windowed: windowed)
        if options.normalize { Self.normalize(&a) }
        return a
    }

    static func normalize(_ a: inout [Float]) {
        var peak: Float = 0
        for v in a { peak = max(peak, abs(v)) }
        if peak > 1e-8 { let g = 1 / peak; for i in a.indices { a[i] = min(1, max(-1, a[i] * g)) } }
    }

    public func speak(_ text: String) -> AsyncThrowingStream<[Float], Error> {
        AsyncThrowingStream { continuation in
            let cancelled = CancelFlag()
            continuation.onTermination = { _ in cancelled.set() }
            // Ahead of playback, a listener is waiting: the language model holds back from now (not only once the
            // queue gets to it) until the text is spoken.
            ForegroundWork.begin()
            queue.async { [self] in
                ProcessPriority.raiseCurrentThread()
                defer { ForegroundWork.end() }
                do {
                    let sentences = try voice.phonemize(text)
                    try synthesize(sentences) { piece in
                        if cancelled.isSet { return false }
                        continuation.yield(piece)
                        return true
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        }
    }

    /// The raw model output for ids (no normalization): parity checks and benchmarks.
    public func rawAudio(ids: [Int], seed: UInt64 = 0, windowed: Bool = true) throws -> [Float] {
        try vits.synthesize(ids: ids, scales: options.scales ?? voice.defaultScales, speaker: options.speaker,
                            seed: seed, windowed: windowed)
    }

    public var engine: VITS { vits }
}

final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.lock(); flag = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}
