import ArgumentParser
import AudioIO
import Engine
import Foundation

/// `confab bench answers`: how often the reply is right. Each question of a set (Confab's own everyday questions
/// by default) is asked typed, or spoken through the whole chain (voice activity → Whisper → the language model →
/// Piper), and the reply is checked against the answers the set accepts; clock questions against the clock.
struct BenchAnswers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "answers",
        abstract: "Measure right answers: everyday questions, typed or spoken, checked against accepted answers.",
        discussion: """
        Defaults: --set (Confab's everyday questions)  --llm \(DefaultLanguageModel.helpText)  --mode typed
                  sampling as in a conversation (\(LLMOptions.samplingDefaults))  --seed 1
                  --max-tokens 160  --asr tiny.en  --voice en_US-joe-medium  --espeak-voices \(Self.defaultEspeakVoices)  --threads (all cores)
        Modes: typed (the question as text), piper (spoken by --voice), espeak (spoken by espeak-ng's voices in turn).
        The spoken modes run each question through a whole conversation, as `confab converse --input` does.
        Several models and modes: --llm qwen2.5-coder-1.5b,qwen2.5-coder-0.5b --mode typed,piper,espeak
        """
    )

    enum Mode: String, CaseIterable, Codable { case typed, piper, espeak }
    static let defaultEspeakVoices = "en-us,en-us+f3,en-gb-x-rp+m3,en-gb-x-rp+f4"

    @Option(help: "Question set (JSON; see assets/questions/everyday.json).") var set: String?
    @Option(help: ArgumentHelp("Language models, comma-separated names or GGUF paths (default: \(DefaultLanguageModel.helpText)).", valueName: "names"))
    var llm: String?
    @Option(help: "Modes, comma-separated: typed, piper, espeak.") var mode = "typed"
    @Flag(help: "Greedy decoding, whatever the conversation's default.") var greedy = false
    @Option(help: "Sampling temperature (default: the conversation's).") var temperature: Float?
    @Option(help: "Seed of question i is seed + i, so a run repeats exactly.") var seed: UInt64 = 1
    @Option(help: "Longest reply, in tokens.") var maxTokens = 160
    @Option(help: "Only the first N questions.") var limit: Int?
    @Option(help: "Whisper model for the spoken modes.") var asr = "tiny.en"
    @Option(help: "Piper voice: speaks the replies, and the questions in piper mode.") var voice = "en_US-joe-medium"
    @Option(help: "espeak-ng voices for espeak mode, comma-separated, used in turn.") var espeakVoices = Self.defaultEspeakVoices
    @Option(help: "Threads for the engine.") var threads: Int?
    @Flag(help: "Print every question, not only the wrong ones.") var verbose = false
    @Flag(help: "JSON output.") var json = false

    struct Answer: Codable {
        var question: String
        var heard: String?
        var reply: String
        var right: Bool
        var seconds: Double
    }

    struct Run: Codable {
        var model: String
        var mode: Mode
        var right: Int
        var total: Int
        var answers: [Answer]
    }

    func run() async throws {
        do {
            let modes = try mode.split(separator: ",").map { m -> Mode in
                guard let v = Mode(rawValue: m.trimmingCharacters(in: .whitespaces).lowercased()) else {
                    throw ValidationError("--mode: unknown mode '\(m)' (typed, piper or espeak)")
                }
                return v
            }
            guard !modes.isEmpty else { throw ValidationError("--mode: give at least one of typed, piper, espeak") }
            guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be ≥ 1") }
            let models = llm.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [DefaultLanguageModel.announced()]
            EngineThreads.configure(threads)
            var questions = try (set.map { try AnswerSet.load($0) } ?? AnswerSet.builtIn()).questions
            if let limit { questions = Array(questions.prefix(max(1, limit))) }

            var sampling = greedy ? SamplingParameters.greedy : SamplingParameters()
            if let temperature { sampling.temperature = temperature }
            sampling.maxTokens = maxTokens

            // The spoken stages, and each question's audio (16 kHz), made once for every model.
            let spoken = modes.contains { $0 != .typed }
            let transcriber = spoken ? try WhisperTranscriber(directory: try ModelStore().resolve(asr, kind: .whisper)) : nil
            let synthesizer = spoken ? try PiperSynthesizer(voice: voice) : nil
            var audio: [Mode: [[Float]]] = [:]
            if let synthesizer, modes.contains(.piper) {
                audio[.piper] = try questions.map { try synthesizer.spokenQuestion($0.text) }
            }
            if modes.contains(.espeak) {
                let voices = espeakVoices.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard !voices.isEmpty else { throw ValidationError("--espeak-voices: give at least one voice") }
                audio[.espeak] = try questions.enumerated().map { i, q in
                    let voice = voices[i % voices.count]
                    let (s, rate): ([Float], Int)
                    do { (s, rate) = try EspeakPhonemizer.shared.speak(q.text, voice: voice) } catch {
                        throw PhonemizerError("--espeak-voices: \(error) (`espeak-ng --voices=en` lists the voices; add a variant as in en-us+f3)")
                    }
                    return Resampler.resample(s, from: rate, to: 16000)
                }
            }

            let clock = AssistantClock()
            var runs: [Run] = []
            for model in models {
                let generator = try LlamaGenerator(model: model, sampling: sampling)
                for m in modes {
                    var answers: [Answer] = []
                    for (i, q) in questions.enumerated() {
                        generator.sampling.seed = seed &+ UInt64(i)
                        let asked = Date()
                        var heard: String?
                        var reply = ""
                        if m == .typed {
                            let messages = [ChatMessage(.system, clock.systemPrompt(defaultSpokenSystemPrompt)),
                                            ChatMessage(.user, clock.prompt(q.text))]
                            try generator.generate(messages) { reply += $0 }
                        } else if let transcriber, let synthesizer, let clip = audio[m]?[i] {
                            let turns = try await Self.converse(clip, transcriber: transcriber, generator: generator,
                                                                synthesizer: synthesizer, clock: clock)
                            heard = turns.map(\.transcript).joined(separator: " / ")
                            reply = turns.last?.reply ?? ""
                            if let e = turns.compactMap(\.error).first { reply += " [error: \(e)]" }
                        }
                        let a = Answer(question: q.text, heard: heard, reply: reply.trimmingCharacters(in: .whitespacesAndNewlines),
                                       right: q.isRight(reply, askedAt: asked, clock: clock), seconds: Date().timeIntervalSince(asked))
                        answers.append(a)
                        if !json && (verbose || !a.right) { print(Self.line(a, model: model, mode: m)) }
                    }
                    let run = Run(model: model, mode: m, right: answers.filter(\.right).count, total: answers.count, answers: answers)
                    runs.append(run)
                    if !json { print(Self.summary(run)) }
                }
            }
            report(runs, sampling: sampling)
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }

    /// One question through a whole conversation of its own (no history): its audio as the microphone, replies
    /// spoken into a counting sink. Returns its turns (one, unless the recognizer split the question at a pause).
    static func converse(_ clip: [Float], transcriber: WhisperTranscriber, generator: LlamaGenerator,
                         synthesizer: PiperSynthesizer, clock: AssistantClock) async throws -> [TurnRecord] {
        var config = ConversationConfiguration(transcriber: transcriber, generator: generator, synthesizer: synthesizer)
        config.clock = clock
        config.echoCancellation = false          // files have no acoustic echo
        config.pauseCaptureDuringReply = true
        let lead = [Float](repeating: 0, count: 16000)   // a second of silence before the question, as a room would have
        let capture = FileCaptureSource(samples: lead + clip, sampleRate: 16000)
        let sink = try FilePlaybackSink(path: nil, sampleRate: synthesizer.sampleRate)
        let conversation = try Conversation(config, capture: capture, playback: sink)
        let collector = TurnCollector()
        let reader = Task { for await e in conversation.events { collector.add(e) } }
        conversation.start()
        await conversation.waitForCaptureEnd()
        await conversation.waitUntilIdle()
        await conversation.stop()
        await reader.value
        return collector.finished
    }

    static func line(_ a: Answer, model: String, mode: Mode) -> String {
        let heard = a.heard.map { " (heard: \($0))" } ?? ""
        let reply = a.reply.replacingOccurrences(of: "\n", with: " ")
        return "\(a.right ? "✓" : "✗") [\(model) · \(mode.rawValue)] \(a.question)\(heard) → \(reply.prefix(160))"
    }

    static func summary(_ r: Run) -> String {
        String(format: "%@ · %@: %d/%d right (%.0f%%)", r.model, r.mode.rawValue, r.right, r.total, 100 * Double(r.right) / Double(max(1, r.total)))
    }

    private func report(_ runs: [Run], sampling: SamplingParameters) {
        if json {
            struct Settings: Encodable {
                var temperature: Float; var topK: Int; var topP: Float; var minP: Float; var repeatPenalty: Float; var seed: UInt64; var maxTokens: Int
            }
            struct Out: Encodable { var runs: [Run]; var sampling: Settings; var threads: Int }
            let out = Out(runs: runs, sampling: Settings(temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP,
                                                         minP: sampling.minP, repeatPenalty: sampling.repeatPenalty, seed: seed,
                                                         maxTokens: sampling.maxTokens),
                          threads: EngineThreads.count)
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            if let d = try? enc.encode(out) { print(String(decoding: d, as: UTF8.self)) }
            return
        }
        print("")
        print(sampling.temperature == 0 ? "greedy decoding" :
              String(format: "sampling: temperature %.2f, top-k %d, top-p %.2f, min-p %.2f, repeat penalty %.2f, seed %llu",
                     sampling.temperature, sampling.topK, sampling.topP, sampling.minP, sampling.repeatPenalty, seed))
        for r in runs { print(Self.summary(r)) }
    }
}
