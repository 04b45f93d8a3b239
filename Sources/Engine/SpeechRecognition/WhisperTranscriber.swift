import AudioIO
import Foundation

/// A bad audio input (unreadable or empty), as one line naming the file.
public struct AudioInputError: Error, CustomStringConvertible, Equatable {
    public let path: String, problem: String
    public init(path: String, problem: String) { self.path = path; self.problem = problem }
    public var description: String { "\(path): \(problem)" }
}

public struct WhisperOptions: Sendable {
    public enum Task: String, Sendable { case transcribe, translate }
    public var decoding = WhisperDecodingOptions()
    /// nil: English for .en models, detected from the first window for multilingual ones.
    public var language: String?
    public var task: Task = .transcribe
    public var conditionOnPreviousText = true
    public var noSpeechThreshold: Float = 0.6
    public var logProbThreshold: Float = -1
    /// Confab's addition to faster-whisper's rule: a window whose peak is below this (−60 dBFS) is silence and is
    /// skipped without decoding (beam search on digital silence can otherwise pass the rule with " You").
    public var silencePeak: Float = 0.001
    /// Encode only the mel frames that hold audio plus this margin (in 10 ms frames) instead of the whole
    /// 30-second window; nil encodes the full window as faster-whisper does. Off by default: on 32 espeak-ng
    /// utterances a 1–3 s margin changed 21–25 of 32 tiny.en transcripts (Whisper is trained on full windows).
    public var encoderMarginFrames: Int? = nil
    /// The arithmetic of the matrix products; nil: WhisperPrecision.preferred (mixed with AVX-512 VNNI, else f32).
    public var precision: WhisperPrecision? = nil
    public init() {}
}

public struct WhisperTimings: Sendable, Codable, Equatable {
    public var load = 0.0, mel = 0.0, encode = 0.0, decode = 0.0, audio = 0.0
    public var total: Double { mel + encode + decode }
    public var realTimeFactor: Double { audio > 0 ? total / audio : 0 }
}

public struct WhisperResult: Sendable {
    public var transcript: Transcript
    public var timings: WhisperTimings
    public var tokens: [Int]
}

/// The default speech recognizer: Whisper (CTranslate2 weights) in Confab's engine.
/// Windows of 30 s are decoded the way faster-whisper does it (prompt with previous text, timestamp rules,
/// no-speech skipping, seeking to the last timestamp).
public final class WhisperTranscriber: Transcribing, @unchecked Sendable {
    public let model: WhisperModel
    public let vocab: WhisperVocabulary
    public let mel: LogMelSpectrogram
    public var options: WhisperOptions
    public let loadSeconds: Double
    private let scratch: FloatBuffer
    private let lock = NSLock()

    /// Loads a CTranslate2 Whisper directory (model.bin, config.json, vocabulary.txt).
    public init(directory: URL, options: WhisperOptions = WhisperOptions()) throws {
        let t0 = Date()
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw ModelFileError(path: directory.path, problem: "not a model directory")
        }
        for name in ["model.bin", "config.json", "vocabulary.txt"] where !fm.fileExists(atPath: directory.appendingPathComponent(name).path) {
            throw ModelFileError(path: directory.appendingPathComponent(name).path, problem: "missing (a Whisper model directory needs model.bin, config.json and vocabulary.txt)")
        }
        let config = try WhisperConfigFile(path: directory.appendingPathComponent("config.json").path)
        vocab = try WhisperVocabulary(path: directory.appendingPathComponent("vocabulary.txt").path)
        let file = try CTranslate2ModelFile(path: directory.appendingPathComponent("model.bin").path)
        model = try WhisperModel(file: file, maxBeams: max(options.decoding.beamSize, 1), precision: options.precision ?? .preferred)
        guard model.config.nVocab == vocab.count else {
            throw ModelFileError(path: directory.appendingPathComponent("vocabulary.txt").path,
                                 problem: "\(vocab.count) tokens but model.bin has \(model.config.nVocab)")
        }
        var opts = options
        if opts.decoding.suppressTokens.isEmpty {
            // config suppress_ids = faster-whisper's list (non-speech symbols + sot, task, sot_lm, sot_prev, no-speech)
            opts.decoding.suppressTokens = Array(Set((config.suppressIDs ?? []) + [vocab.transcribe, vocab.translate, vocab.sot, vocab.sotPrev, vocab.sotLM, vocab.noSpeech])).sorted()
        }
        if opts.decoding.suppressBegin.isEmpty { opts.decoding.suppressBegin = config.suppressIDsBegin ?? [220, vocab.eot] }
        self.options = opts
        mel = LogMelSpectrogram(nMels: model.config.nMels)
        scratch = FloatBuffer(count: model.config.nVocab)
        loadSeconds = Date().timeIntervalSince(t0)
    }

    /// Loads a Whisper model by store name (default: the manifest's default, tiny.en) or directory path.
    public convenience init(model nameOrPath: String? = nil, options: WhisperOptions = WhisperOptions()) throws {
        try self.init(directory: try ModelStore().resolve(nameOrPath, kind: .whisper), options: options)
    }

    /// Reads an audio file as 16 kHz mono; an unreadable or empty file is a one-line error.
    public static func readAudio(_ path: String) throws -> [Float] {
        let samples: [Float]
        do { samples = try AudioFile.readMono(path, sampleRate: LogMelSpectrogram.sampleRate) }
        catch {
            let text = "\(error)"
            throw AudioInputError(path: path, problem: text.hasPrefix(path + ": ") ? String(text.dropFirst(path.count + 2)) : text)
        }
        guard !samples.isEmpty else { throw AudioInputError(path: path, problem: "no audio (zero length)") }
        return samples
    }

    public func transcribe(_ samples: [Float]) throws -> Transcript { try run(samples).transcript }

    /// Encoder frames after the audio for a provisional transcript (1 s).
    public static let provisionalMarginFrames = 100

    /// The words so far: the encoder runs over the audio and 1 s after it instead of the whole 30-second window
    /// (4–8× less work for a few seconds of speech; the words can differ a little from the final transcript's).
    public func transcribeProvisional(_ samples: [Float]) throws -> Transcript {
        var o = options
        o.encoderMarginFrames = o.encoderMarginFrames ?? Self.provisionalMarginFrames
        return try run(samples, options: o).transcript
    }

    public func run(_ samples: [Float], options override: WhisperOptions? = nil) throws -> WhisperResult {
        lock.lock(); defer { lock.unlock() }
        if override == nil { ProcessPriority.raiseCurrentThread() }   // not for the words so far (idle-time work)
        var tm = WhisperTimings()
        tm.load = loadSeconds
        tm.audio = Double(samples.count) / Double(LogMelSpectrogram.sampleRate)
        if samples.isEmpty { return WhisperResult(transcript: Transcript(text: "", segments: [], language: options.language), timings: tm, tokens: []) }
        var t = Date()
        let (features, frames) = samples.withUnsafeBufferPointer { mel.compute($0) }
        tm.mel = Date().timeIntervalSince(t)
        let o = override ?? options
        let decoder = WhisperDecoder(model: model, vocab: vocab, scratch: scratch)
        let contentFrames = frames - 1
        let W = LogMelSpectrogram.windowFrames
        var seek = 0
        var allTokens: [Int] = []
        var segments: [TranscriptSegment] = []
        var language: String? = vocab.isMultilingual ? o.language : "en"
        var languageToken: Int? = nil
        let timePrecision = 0.02, framesPerSecond = 100.0
        while seek < contentFrames {
            let timeOffset = Double(seek) / framesPerSecond
            let segmentSize = min(W, contentFrames - seek)
            let segmentDuration = Double(segmentSize) / framesPerSecond
            // encoder: the whole window, or only the frames holding audio + margin (even, ≤ window)
            var encFrames = W
            if let margin = o.encoderMarginFrames { encFrames = min(W, ((segmentSize + margin + 1) / 2) * 2) }
            let lo = min(samples.count, seek * LogMelSpectrogram.hop), hi = min(samples.count, (seek + segmentSize) * LogMelSpectrogram.hop)
            var peak: Float = 0
            for i in lo..<hi { peak = max(peak, abs(samples[i])) }
            if peak < o.silencePeak { seek += segmentSize; continue }
            t = Date()
            let encoded = features.withUnsafeBufferPointer { f in
                model.encode(mel: f.baseAddress!, stride: frames, offset: seek, available: seek + segmentSize, frames: encFrames)
            }
            // A cancelled task (a speculative recognition the user talked over) stops between layers and steps.
            guard encoded else { throw CancellationError() }
            tm.encode += Date().timeIntervalSince(t)
            t = Date()
            if vocab.isMultilingual && languageToken == nil {
                if language == nil, let (code, _) = decoder.detectLanguage() { language = code }
                languageToken = language.flatMap { vocab.languageToken($0) } ?? vocab.languageToken("en")
            }
            // prompt: [<|startofprev|> previous…] <|startoftranscript|> [<|lang|> <|task|>] [<|notimestamps|>]
            var prompt: [Int] = []
            if o.conditionOnPreviousText && !allTokens.isEmpty {
                prompt.append(vocab.sotPrev)
                prompt += allTokens.suffix(model.config.nTextCtx / 2 - 1)
            }
            let sotIndex = prompt.count
            prompt.append(vocab.sot)
            if vocab.isMultilingual, let lt = languageToken {
                prompt.append(lt)
                prompt.append(o.task == .translate ? vocab.translate : vocab.transcribe)
            }
            if o.decoding.withoutTimestamps { prompt.append(vocab.noTimestamps) }
            let result = decoder.decode(prompt: prompt, sotIndex: sotIndex, options: o.decoding)
            tm.decode += Date().timeIntervalSince(t)
            try Task.checkCancellation()
            // no speech: skip the window (silence and noise give no text)
            if result.noSpeechProb > o.noSpeechThreshold && !(result.avgLogprob > o.logProbThreshold) {
                seek += segmentSize
                continue
            }
            let tokens = result.tokens
            let tb = vocab.timestampBegin
            let previousSeek = seek
            var current: [(start: Double, end: Double, tokens: [Int])] = []
            let singleEnding = tokens.count >= 2 && tokens[tokens.count - 2] < tb && tokens[tokens.count - 1] >= tb
            let consecutive = tokens.indices.filter { $0 > 0 && tokens[$0] >= tb && tokens[$0 - 1] >= tb }
            if !consecutive.isEmpty {
                var slices = consecutive
                if singleEnding { slices.append(tokens.count) }
                var lastSlice = 0
                for s in slices {
                    let sl = Array(tokens[lastSlice..<s])
                    current.append((timeOffset + Double(sl[0] - tb) * timePrecision, timeOffset + Double(sl[sl.count - 1] - tb) * timePrecision, sl))
                    lastSlice = s
                }
                if singleEnding { seek += segmentSize } else { seek += (tokens[lastSlice - 1] - tb) * 2 }
            } else {
                var duration = segmentDuration
                let stamps = tokens.filter { $0 >= tb }
                if let last = stamps.last, last != tb { duration = Double(last - tb) * timePrecision }
                current.append((timeOffset, timeOffset + duration, tokens))
                seek += segmentSize
            }
            if seek <= previousSeek { seek = previousSeek + segmentSize }   // never loop on a window (degenerate timestamps)
            for seg in current {
                let text = vocab.decode(seg.tokens)
                // No letter or digit ("  . . . ." from a hum at beam 5, as faster-whisper at temperature 0 hears it):
                // faster-whisper retries such a window at higher temperatures (its compression ratio is over 2.4)
                // and then drops it as no speech; Confab has no sampling fallback and drops the text.
                if seg.start == seg.end || !text.contains(where: { $0.isLetter || $0.isNumber }) { continue }
                allTokens += seg.tokens
                segments.append(TranscriptSegment(start: seg.start, end: seg.end, text: text))
            }
        }
        let text = segments.map(\.text).joined().trimmingCharacters(in: .whitespacesAndNewlines)
        return WhisperResult(transcript: Transcript(text: text, segments: segments, language: language), timings: tm, tokens: allTokens)
    }
}
