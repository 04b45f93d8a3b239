import ArgumentParser
import AudioIO
import Engine
import Foundation

/// `confab bench e2e`: what a person feels — end of speech → first reply audio handed to ALSA — over a set
/// of spoken questions, with the whole conversation pipeline running in real time.
///
/// The microphone is a real-time source fed with the questions one at a time (each after the previous reply
/// has played out); the speaker is a real ALSA playback device (`null` by default, paced to real time by the
/// audio thread), so first audio is stamped when its period is handed to ALSA, as in a live conversation.
struct BenchE2E: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e",
        abstract: "Measure end-to-end latency: end of speech → transcript → first token → first audio, p50 and p95.",
        discussion: """
        Questions: the given audio files (one question each), else \(Self.builtInQuestions.count) built-in questions spoken by the voice.
        Defaults: --asr tiny.en  --llm \(DefaultLanguageModel.helpText)  --voice en_US-joe-medium  --hangover 0.5
                  --playback-device null  --rounds 1 (or --minutes M: a soak)  --rss-every 60  speculative replies on  --partials on  --pause-notice \(EnergyVAD.Parameters().pauseNotice)  --threads (all cores)
        --wake PHRASE: the built-in questions start with the phrase, and only speech with it is answered.
        Every figure is measured from the end of speech (the last speech-like frame), so it includes the hangover.
        """
    )

    enum Partials: String, ExpressibleByArgument, CaseIterable { case on, off, alternate }

    static let builtInQuestions = [
        "What is the capital of France?",
        "How many days are there in a week?",
        "What color is the sky on a clear day?",
        "Who wrote Romeo and Juliet?",
        "What is two plus two?",
        "At what temperature does water boil?",
        "What is the tallest mountain in the world?",
        "Can you give me a tip for sleeping better?",
        "How many legs does a spider have?",
        "What is the largest planet in our solar system?",
    ]

    @Argument(help: "Audio files, one spoken question each (default: the built-in questions, spoken by --voice).")
    var questions: [String] = []
    @Option(help: "Whisper model name or directory.") var asr = "tiny.en"
    @Option(help: WhisperPrecision.optionHelp) var asrPrecision: WhisperPrecision?
    @Option(help: ArgumentHelp("Language model name or GGUF path (default: \(DefaultLanguageModel.helpText)).", valueName: "name")) var llm: String?
    @Option(help: "Piper voice name or .onnx path.") var voice = "en_US-joe-medium"
    @Option(help: "Seconds of silence that end a turn.") var hangover = 0.5
    @Option(help: "ALSA playback device the replies go to.") var playbackDevice = "null"
    @Option(help: "Times through the question set (a longer run also shows underruns and xruns over time).") var rounds = 1
    @Option(help: ArgumentHelp("A soak: go through the question set again and again for this long instead of --rounds.", valueName: "minutes"))
    var minutes: Double?
    @Option(help: ArgumentHelp("Seconds between samples of the process's resident memory (RSS).", valueName: "s")) var rssEvery = 60.0
    @Option(help: "Longest reply, in tokens.") var maxTokens = 96
    @Flag(help: "Do not start the reply during the hangover (to measure what speculation saves).") var noSpeculation = false
    @Option(help: "Seconds of silence after which recognition (and the speculative reply) starts (default: the detector's).") var pauseNotice: Double?
    @Option(help: "Threads for the engine.") var threads: Int?
    @Option(help: "Partial transcripts while the question is spoken: on, off, or alternate (question by question, swapped each round, reported apart).")
    var partials: Partials = .on
    @OptionGroup var wake: WakeOptions
    @OptionGroup var remote: RemoteLMOptions
    @OptionGroup var priority: PriorityOptions
    @Flag(help: "JSON output.") var json = false

    func run() async throws {
        do {
            if let minutes, !(minutes > 0) { throw ValidationError("--minutes must be > 0") }
            guard rssEvery > 0 else { throw ValidationError("--rss-every must be > 0") }
            EngineThreads.configure(threads)
            let scheduling = priority.apply()
            var whisper = WhisperOptions()
            whisper.precision = asrPrecision
            let transcriber = try WhisperTranscriber(directory: try ModelStore().resolve(asr, kind: .whisper), options: whisper)
            var sampling = SamplingParameters()
            sampling.maxTokens = maxTokens
            let generator = try remote.generator(maxTokens: maxTokens) { try LlamaGenerator(model: llm ?? DefaultLanguageModel.announced(), sampling: sampling) }
            let synthesizer = try PiperSynthesizer(voice: voice)

            // The questions as 16 kHz audio.
            var set: [(name: String, audio: [Float])] = []
            if questions.isEmpty {
                // With --wake each question starts with the phrase ("hey confab, what is …").
                let prefix = wake.wake.map { $0 + ", " } ?? ""
                for q in Self.builtInQuestions { set.append((q, try synthesizer.spokenQuestion(prefix + q))) }
            } else {
                for f in questions { set.append((f, try AudioFile.readMono(f, sampleRate: 16000))) }
            }

            let player = try ALSAPlayer(device: playbackDevice, sampleRate: synthesizer.sampleRate)
            let mic = RealTimeCaptureSource(sampleRate: 16000)
            var config = ConversationConfiguration(transcriber: transcriber, generator: generator, synthesizer: synthesizer)
            config.vad.hangover = hangover
            if let pauseNotice { config.vad.pauseNotice = min(max(0.02, pauseNotice), hangover) }
            config.echoCancellation = false        // nothing comes back from a null device
            config.speculativeReply = !noSpeculation
            config.partialTranscripts = partials != .off
            try wake.apply(to: &config)
            let conversation = try Conversation(config, capture: mic, playback: DevicePlaybackSink(player))
            let collector = TurnCollector()
            let reader = Task { for await e in conversation.events { collector.add(e) } }
            conversation.start()
            try await Task.sleep(for: .seconds(1.5))     // the detector learns the room; the system prompt is prefilled

            var rows: [Row] = []
            let started = Date()
            // Resident memory, sampled every --rss-every seconds from the start of the questions (and once at the end).
            let rss = RSSSampler(every: rssEvery, since: started)
            let sampler = Task { await rss.run() }
            var round = 0
            func goOn() -> Bool { minutes.map { Date().timeIntervalSince(started) < $0 * 60 } ?? (round < max(1, rounds)) }
            while goOn() {
                defer { round += 1 }
                for (i, q) in set.enumerated() where goOn() || minutes == nil {
                    let before = collector.finished.count
                    let underrunsBefore = player.counters.underruns
                    let partialsOn = partials == .alternate ? (round + i) % 2 == 0 : partials == .on
                    conversation.partialTranscripts = partialsOn
                    collector.partials = 0
                    collector.startTrace()
                    mic.say(q.audio)
                    // Wait for the turn, and for its reply to play out; a question that made no turn times out.
                    let deadline = Date().addingTimeInterval(Double(q.audio.count) / 16000 + 60)
                    while collector.finished.count == before && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
                    let record = collector.finished.count > before ? collector.finished[before] : nil
                    let row = Row(question: q.name, round: round, transcript: record?.transcript, reply: record?.reply,
                                  timings: record?.timings, underruns: player.counters.underruns - underrunsBefore,
                                  partials: partialsOn, partialEvents: collector.partials,
                                  trace: record == nil ? collector.trace : nil)
                    rows.append(row)
                    if !json { print(row.line(index: round * set.count + i + 1)) }
                    try await Task.sleep(for: .milliseconds(600))
                }
            }
            let seconds = Date().timeIntervalSince(started)
            sampler.cancel()
            rss.sample()
            await conversation.stop()
            await reader.value
            let counters = player.counters
            player.close()
            report(rows, counters: counters, seconds: seconds, pauseSeconds: config.vad.pauseNotice, rss: rss.samples, scheduling: scheduling,
                   asrPrecision: transcriber.model.precision)
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }

    struct Row: Codable {
        var question: String
        var round: Int
        var transcript: String?
        var reply: String?
        var timings: TurnTimings?
        /// Playback underruns during this turn's reply.
        var underruns = 0
        /// Partial transcripts were on for this question, and how many arrived (the early recognition's included).
        var partials = true
        var partialEvents = 0
        /// For a question that made no turn: what the conversation reported meanwhile.
        var trace: [String]? = nil

        func line(index: Int) -> String {
            func ms(_ v: Double?) -> String { v.map { String(format: "%5.0f", $0 * 1000) } ?? "    –" }
            guard let t = timings else {
                return String(format: "%3d  no turn for: %@", index, question) + "  [" + (trace ?? []).joined(separator: " · ") + "]"
            }
            return String(format: "%3d  transcript %@  first token %@  first audio %@ ms%@%@   %@ → %@", index,
                          ms(t.transcript), ms(t.firstToken), ms(t.firstAudio), underruns > 0 ? "  (\(underruns) underruns)" : "",
                          partials ? "  [\(partialEvents) partials]" : "  [partials off]",
                          transcript ?? "", String((reply ?? "").prefix(60)))
        }
    }

    private func report(_ rows: [Row], counters: PlaybackCounters, seconds: Double, pauseSeconds: Double, rss: [RSSSample],
                        scheduling: ProcessPriority.Outcome, asrPrecision: WhisperPrecision) {
        let timed = rows.compactMap(\.timings)
        func series(_ k: KeyPath<TurnTimings, Double?>) -> [Double] { timed.compactMap { $0[keyPath: k] }.sorted() }
        /// Nearest-rank percentile of sorted values.
        func pct(_ xs: [Double], _ p: Double) -> Double? {
            guard !xs.isEmpty else { return nil }
            return xs[min(xs.count - 1, max(0, Int((p / 100 * Double(xs.count)).rounded(.up)) - 1))]
        }
        let transcript = series(\.transcript), firstToken = series(\.firstToken), firstAudio = series(\.firstAudio)
        // Each stage's share of first audio: recognition (incl. the pause before it starts), the model up to
        // its first token, and the rest (first sentence, synthesis, waiting out the hangover, the device).
        let shares = timed.compactMap { t -> (Double, Double, Double)? in
            guard let a = t.transcript, let b = t.firstToken, let c = t.firstAudio else { return nil }
            return (a, max(0, b - a), max(0, c - b))
        }
        // The last share split: first token → first chunk (the model writing its first sentence or clause),
        // → its first audio out of synthesis, → handed to the device (including any wait for the hangover).
        let voiceShares = timed.compactMap { t -> (Double, Double, Double)? in
            guard let b = t.firstToken, let c = t.firstChunk, let d = t.firstSynthesized, let e = t.firstAudio else { return nil }
            return (max(0, c - b), max(0, d - c), max(0, e - d))
        }
        func median(_ xs: [Double]) -> Double? { pct(xs.sorted(), 50) }
        let summary: [String: Double?] = [
            "transcript_p50_ms": pct(transcript, 50).map { $0 * 1000 }, "transcript_p95_ms": pct(transcript, 95).map { $0 * 1000 },
            "first_token_p50_ms": pct(firstToken, 50).map { $0 * 1000 }, "first_token_p95_ms": pct(firstToken, 95).map { $0 * 1000 },
            "first_audio_p50_ms": pct(firstAudio, 50).map { $0 * 1000 }, "first_audio_p95_ms": pct(firstAudio, 95).map { $0 * 1000 },
            "share_recognition_ms": median(shares.map(\.0)).map { $0 * 1000 },
            "share_model_ms": median(shares.map(\.1)).map { $0 * 1000 },
            "share_voice_ms": median(shares.map(\.2)).map { $0 * 1000 },
            "share_first_chunk_ms": median(voiceShares.map(\.0)).map { $0 * 1000 },
            "share_synthesis_ms": median(voiceShares.map(\.1)).map { $0 * 1000 },
            "share_device_ms": median(voiceShares.map(\.2)).map { $0 * 1000 },
        ]
        if json {
            struct Out: Encodable {
                var turns: [Row]; var summary: [String: Double?]; var questions: Int; var answered: Int
                var underruns: Int; var xruns: Int; var seconds: Double; var hangover: Double; var pauseNotice: Double; var speculative: Bool; var threads: Int
                var priority: String; var asrPrecision: String
                var partials: String; var partialsOn: [String: Double?]?; var partialsOff: [String: Double?]?
                var rss: [RSSSample]; var rssGrowthAfterWarmUpMB: Double?
            }
            func group(_ on: Bool) -> [String: Double?] {
                let g = rows.filter { $0.partials == on }.compactMap(\.timings)
                let a = g.compactMap(\.firstAudio).sorted(), tr = g.compactMap(\.transcript).sorted()
                return ["turns": Double(g.count), "transcript_p50_ms": pct(tr, 50).map { $0 * 1000 },
                        "first_audio_p50_ms": pct(a, 50).map { $0 * 1000 }, "first_audio_p95_ms": pct(a, 95).map { $0 * 1000 }]
            }
            let out = Out(turns: rows, summary: summary, questions: rows.count, answered: timed.count,
                          underruns: counters.underruns, xruns: counters.xruns, seconds: seconds, hangover: hangover, pauseNotice: pauseSeconds,
                          speculative: !noSpeculation, threads: EngineThreads.count, priority: scheduling.description, asrPrecision: asrPrecision.rawValue, partials: partials.rawValue,
                          partialsOn: partials == .alternate ? group(true) : nil, partialsOff: partials == .alternate ? group(false) : nil,
                          rss: rss, rssGrowthAfterWarmUpMB: RSSSample.growthAfterWarmUp(rss))
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .prettyPrinted]
            if let d = try? enc.encode(out) { print(String(decoding: d, as: UTF8.self)) }
            return
        }
        func ms(_ v: Double?) -> String { v.map { String(format: "%.0f ms", $0 * 1000) } ?? "–" }
        print("")
        print("turns answered \(timed.count)/\(rows.count) in \(String(format: "%.0f", seconds)) s · threads \(EngineThreads.count)"
              + " · hangover \(ms(hangover)) · pause notice \(ms(pauseSeconds)) · speculative replies \(noSpeculation ? "off" : "on")"
              + " · priority \(scheduling) · Whisper \(asrPrecision.rawValue)")
        print("end of speech → transcript   p50 \(ms(pct(transcript, 50)))  p95 \(ms(pct(transcript, 95)))")
        print("end of speech → first token  p50 \(ms(pct(firstToken, 50)))  p95 \(ms(pct(firstToken, 95)))")
        print("end of speech → first audio  p50 \(ms(pct(firstAudio, 50)))  p95 \(ms(pct(firstAudio, 95)))")
        print("median shares of first audio: recognition \(ms(median(shares.map(\.0)))) · model to first token \(ms(median(shares.map(\.1))))"
              + " · first sentence, voice and device \(ms(median(shares.map(\.2))))")
        print("  of which: first token → first chunk \(ms(median(voiceShares.map(\.0)))) · → its first audio \(ms(median(voiceShares.map(\.1))))"
              + " · → device \(ms(median(voiceShares.map(\.2))))")
        print("playback: \(counters.underruns) underruns, \(counters.xruns) xruns")
        if let first = rss.first, let last = rss.last {
            let peak = rss.map(\.mb).max() ?? last.mb
            print(String(format: "resident memory: %.0f MB at the start, %.0f MB at the end, peak %.0f MB (%d samples)", first.mb, last.mb, peak, rss.count)
                  + (RSSSample.growthAfterWarmUp(rss).map { String(format: "; after warm-up (first quarter) %+.0f MB", $0) } ?? ""))
        }
        if partials == .alternate {
            for on in [true, false] {
                let group = rows.filter { $0.partials == on }.compactMap(\.timings)
                let a = group.compactMap(\.firstAudio).sorted(), tr = group.compactMap(\.transcript).sorted()
                print("partial transcripts \(on ? "on " : "off"): \(group.count) turns · transcript p50 \(ms(pct(tr, 50))) · first audio p50 \(ms(pct(a, 50)))  p95 \(ms(pct(a, 95)))")
            }
        }
    }
}

extension PiperSynthesizer {
    /// `text` spoken by this voice as a 16 kHz microphone would hear it: the benches' spoken questions.
    func spokenQuestion(_ text: String) throws -> [Float] {
        var speech: [Float] = []
        try synthesize(try voice.phonemize(text)) { speech += $0; return true }
        return Resampler.resample(speech, from: sampleRate, to: 16000)
    }
}

/// The finished turns, in order, gathered from the conversation's events.
final class TurnCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [TurnRecord] = []
    private var partialCount = 0
    private var recent: [String] = []
    /// Partial transcripts since last set to 0.
    var partials: Int { get { lock.withLock { partialCount } } set { lock.withLock { partialCount = newValue } } }
    /// What the conversation reported since the last `startTrace()` (states, transcripts, errors; not levels or
    /// tokens): why a question made no turn.
    var trace: [String] { lock.withLock { recent } }
    func startTrace() { lock.withLock { recent.removeAll() } }
    func add(_ e: ConversationEvent) {
        if case .partialTranscript = e { lock.withLock { partialCount += 1 } }
        if case .turnFinished(let r) = e { lock.withLock { records.append(r) } }
        if case .error(let m) = e { printErr("confab: \(m)") }
        let line: String? = switch e {
        case .state(let s): "\(s)"
        case .partialTranscript(let t): "partial “\(t)”"
        case .transcript(let t): "transcript “\(t)”"
        case .notAddressed(let t): "not addressed “\(t)”"
        case .wake(let w): "wake \(w)"
        case .interrupted(let s): "interrupted after “\(s.prefix(40))”"
        case .error(let m): "error \(m)"
        case .turnFinished: "turn finished"
        case .replyToken, .replySentenceStarted, .audioLevel, .timing: nil
        }
        if let line { lock.withLock { if recent.count < 64 { recent.append(line) } } }
    }
    var finished: [TurnRecord] { lock.withLock { records } }
}

/// One sample of the process's resident memory.
struct RSSSample: Codable, Sendable {
    var seconds: Double   // since the questions started
    var mb: Double

    /// VmRSS of this process from /proc/self/status, in MB (nil where there is no /proc).
    static func current() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kb / 1024
    }

    /// The change from the end of the warm-up (the first quarter of the run, at least one sample) to the last sample;
    /// nil with fewer than three samples.
    static func growthAfterWarmUp(_ s: [RSSSample]) -> Double? {
        guard s.count >= 3, let last = s.last else { return nil }
        let warm = s[max(1, s.count / 4)]
        return last.mb - warm.mb
    }
}

/// Samples the resident memory every `every` seconds until cancelled.
final class RSSSampler: @unchecked Sendable {
    private let every: Double, since: Date
    private let lock = NSLock()
    private var _samples: [RSSSample] = []
    var samples: [RSSSample] { lock.withLock { _samples } }
    init(every: Double, since: Date) { self.every = every; self.since = since }
    func sample() {
        guard let mb = RSSSample.current() else { return }
        let s = RSSSample(seconds: Date().timeIntervalSince(since), mb: mb)
        lock.withLock { _samples.append(s) }
    }
    func run() async {
        while !Task.isCancelled {
            sample()
            try? await Task.sleep(for: .seconds(every))
        }
    }
}
