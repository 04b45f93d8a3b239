import ArgumentParser
import AudioIO
import Engine
import Foundation

/// `confab bench wake`: how well the wake phrase separates speech for Confab from the rest. Sentences without
/// the phrase (everyday questions, remarks, and near misses such as "Hey, can you…" or "Hey Conrad…") and
/// questions that start with it are spoken by the Piper voice and espeak-ng voices, with and without fan-like
/// noise, recognized by Whisper as in a conversation, and checked by the same matcher the conversation uses.
struct BenchWake: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wake",
        abstract: "Measure the wake phrase: false accepts on speech without it, misses on questions with it.",
        discussion: """
        Defaults: --phrase "hey confab"  --minutes 30 (of speech without the phrase)  --positives 60
                  --voices \(Self.defaultVoices)  --snr \(Self.defaultSNR)  --asr tiny.en  --threads (all cores)
        Voices: "piper" is --voice (en_US-joe-medium); the others are espeak-ng voices (`espeak-ng --voices=en`).
        --snr: "clean" or a signal-to-noise ratio in dB of pink (fan-like) noise; voices and noise take turns.
        """
    )
    static let defaultVoices = "piper,en-us,en-us+f3,en-gb-x-rp+m3,en-gb-x-rp+f4"
    static let defaultSNR = "clean,20,10"

    @Option(help: "The wake phrase.") var phrase = "hey confab"
    @Option(help: "Minutes of speech without the phrase (false accepts).") var minutes = 30.0
    @Option(help: "Questions that start with the phrase (misses).") var positives = 60
    @Option(help: "Voices, comma-separated: piper and espeak-ng voice names.") var voices = Self.defaultVoices
    @Option(help: "Noise conditions, comma-separated: clean or an SNR in dB.") var snr = Self.defaultSNR
    @Option(help: "Whisper model name or directory.") var asr = "tiny.en"
    @Option(help: "Piper voice name or .onnx path (the piper voice).") var voice = "en_US-joe-medium"
    @Option(help: "Threads for the engine.") var threads: Int?
    @Flag(help: "Print every utterance, not only the errors.") var verbose = false
    @Flag(help: "JSON output.") var json = false

    enum Kind: String, Codable { case without, with }
    struct Trial: Codable {
        var kind: Kind
        var voice: String
        var noise: String
        var said: String
        var heard: String
        var seconds: Double
        /// The matcher said "for Confab".
        var accepted: Bool
        /// With the phrase and accepted: the question left after the phrase starts with the question's first word.
        var questionIntact: Bool?
    }

    func run() async throws {
        do {
            let wake = try WakePhrase(phrase)
            let voiceList = voices.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !voiceList.isEmpty else { throw ValidationError("--voices: give at least one voice") }
            let noises = try snr.split(separator: ",").map { s -> Double? in
                let t = s.trimmingCharacters(in: .whitespaces)
                if t == "clean" { return nil }
                guard let v = Double(t), v.isFinite else { throw ValidationError("--snr: '\(t)' is neither clean nor a number of dB") }
                return v
            }
            guard !noises.isEmpty else { throw ValidationError("--snr: give at least one condition") }
            guard minutes >= 0, positives >= 0 else { throw ValidationError("--minutes and --positives must be ≥ 0") }
            EngineThreads.configure(threads)
            let transcriber = try WhisperTranscriber(directory: try ModelStore().resolve(asr, kind: .whisper))
            let piper = voiceList.contains("piper") ? try PiperSynthesizer(voice: voice) : nil

            let questions = try AnswerSet.builtIn().questions.map(\.text) + BenchE2E.builtInQuestions
            let negatives = questions + Self.remarks + Self.nearMisses
            var trials: [Trial] = []
            var index = 0
            func speak(_ text: String, _ v: String, _ n: Double?) throws -> [Float] {
                var audio: [Float]
                if v == "piper", let piper {
                    piper.options.seed = UInt64(index)
                    audio = try piper.spokenQuestion(text)
                } else {
                    let (s, rate): ([Float], Int)
                    do { (s, rate) = try EspeakPhonemizer.shared.speak(text, voice: v) } catch {
                        throw PhonemizerError("--voices: \(error) (`espeak-ng --voices=en` lists the voices; add a variant as in en-us+f3)")
                    }
                    audio = Resampler.resample(s, from: rate, to: 16000)
                }
                // 0.3 s before and after, as the voice detector's pre-roll and trailing silence keep.
                let pad = [Float](repeating: 0, count: 4800)
                audio = pad + audio + pad
                if let n { Self.addNoise(&audio, snrDB: n, seed: UInt64(index) &+ 1) }
                return audio
            }
            func trial(_ kind: Kind, _ text: String) throws {
                let v = voiceList[index % voiceList.count]
                let n = noises[(index / voiceList.count) % noises.count]
                let said = kind == .with ? phrase.prefix(1).uppercased() + phrase.dropFirst() + ", " + text : text
                let audio = try speak(said, v, n)
                let heard = try transcriber.transcribe(audio).text.trimmingCharacters(in: .whitespacesAndNewlines)
                let match = wake.match(heard)
                var t = Trial(kind: kind, voice: v, noise: n.map { String(format: "%g dB", $0) } ?? "clean", said: said, heard: heard,
                              seconds: Double(audio.count - 9600) / 16000, accepted: match != nil)
                if kind == .with, let match { t.questionIntact = Self.firstWord(match.rest) == Self.firstWord(text) }
                trials.append(t)
                index += 1
                if verbose && !json { print(Self.line(t)) }
            }
            // Speech without the phrase until --minutes of it, every sentence in turn with the voices and noises in turn.
            var spokenSeconds = 0.0, s = 0
            while spokenSeconds < minutes * 60 && !negatives.isEmpty {
                try trial(.without, negatives[s % negatives.count])
                spokenSeconds += trials.last?.seconds ?? 0
                s += 1
            }
            for i in 0..<positives { try trial(.with, questions[i % questions.count]) }
            report(trials)
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }

    /// The first word, lower-cased letters only: the question after the phrase starts where it should.
    static func firstWord(_ s: String) -> String {
        String((s.split(separator: " ").first ?? "").lowercased().filter { $0.isLetter })
    }

    static func line(_ t: Trial) -> String {
        let verdict = t.kind == .without ? (t.accepted ? "FALSE ACCEPT" : "ok") : (t.accepted ? (t.questionIntact == true ? "ok" : "ok (question changed)") : "MISS")
        return "\(verdict.padding(toLength: 21, withPad: " ", startingAt: 0)) \(t.voice.padding(toLength: 14, withPad: " ", startingAt: 0)) \(t.noise.padding(toLength: 6, withPad: " ", startingAt: 0))  \(t.said)  →  \(t.heard)"
    }

    struct Group: Codable { var voice: String; var noise: String; var withoutCount: Int; var withoutSeconds: Double; var falseAccepts: Int; var withCount: Int; var misses: Int }

    private func report(_ trials: [Trial]) {
        let without = trials.filter { $0.kind == .without }, with = trials.filter { $0.kind == .with }
        let falseAccepts = without.filter(\.accepted), misses = with.filter { !$0.accepted }
        let changed = with.filter { $0.accepted && $0.questionIntact == false }
        let seconds = without.reduce(0) { $0 + $1.seconds }
        var groups: [Group] = []
        for v in Set(trials.map(\.voice)).sorted() {
            for n in Set(trials.map(\.noise)).sorted() {
                let a = without.filter { $0.voice == v && $0.noise == n }, b = with.filter { $0.voice == v && $0.noise == n }
                guard !a.isEmpty || !b.isEmpty else { continue }
                groups.append(Group(voice: v, noise: n, withoutCount: a.count, withoutSeconds: a.reduce(0) { $0 + $1.seconds },
                                    falseAccepts: a.filter(\.accepted).count, withCount: b.count, misses: b.filter { !$0.accepted }.count))
            }
        }
        if json {
            struct Out: Encodable {
                var phrase: String; var withoutUtterances: Int; var withoutMinutes: Double; var falseAccepts: Int
                var withUtterances: Int; var misses: Int; var questionChanged: Int; var groups: [Group]; var errors: [Trial]
            }
            let out = Out(phrase: phrase, withoutUtterances: without.count, withoutMinutes: seconds / 60, falseAccepts: falseAccepts.count,
                          withUtterances: with.count, misses: misses.count, questionChanged: changed.count, groups: groups,
                          errors: falseAccepts + misses + changed)
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .prettyPrinted]
            if let d = try? enc.encode(out) { print(String(decoding: d, as: UTF8.self)) }
            return
        }
        if !verbose { for t in falseAccepts + misses + changed { print(Self.line(t)) } }
        print("")
        print("voice          noise    without: utterances  minutes  false accepts   with: utterances  misses")
        for g in groups {
            print(String(format: "%@ %@ %10d  %7.1f  %13d   %16d  %6d", g.voice.padding(toLength: 14, withPad: " ", startingAt: 0),
                         g.noise.padding(toLength: 8, withPad: " ", startingAt: 0), g.withoutCount, g.withoutSeconds / 60,
                         g.falseAccepts, g.withCount, g.misses))
        }
        print(String(format: "\"%@\": %d false accepts in %d utterances (%.1f minutes) without the phrase; %d misses in %d utterances with it (%d accepted with the question changed)",
                     phrase, falseAccepts.count, without.count, seconds / 60, misses.count, with.count, changed.count))
    }

    /// Pink (fan-like) noise added at `snrDB` below the speech's mean power (over the whole clip).
    static func addNoise(_ audio: inout [Float], snrDB: Double, seed: UInt64) {
        var state = seed == 0 ? 0x9E3779B97F4A7C15 : seed
        func uniform() -> Float {
            state ^= state >> 12; state ^= state << 25; state ^= state >> 27
            let bits: UInt64 = (state &* 2685821657736338717) >> 11
            let unit: Double = Double(bits) / 9007199254740992.0     // [0, 1)
            return Float(unit * 2 - 1)
        }
        var y: Float = 0
        var noise = audio.map { _ -> Float in y = 0.97 * y + uniform(); return y }
        func power(_ x: [Float]) -> Double {
            var sum = 0.0
            for v in x { sum += Double(v) * Double(v) }
            return sum / Double(max(x.count, 1))
        }
        let ratio: Double = power(audio) / max(power(noise), 1e-20)
        let gain = Float((ratio / pow(10.0, snrDB / 10)).squareRoot())
        for i in noise.indices { noise[i] *= gain; audio[i] += noise[i] }
    }

    /// Things people say near an assistant that are not for it.
    static let remarks = [
        "I think we should leave a little earlier tomorrow.", "Could you pass me the salt, please?",
        "The meeting has been moved to Thursday afternoon.", "Did you remember to feed the cat?",
        "Let's order pizza tonight, I'm too tired to cook.", "The train was twenty minutes late again this morning.",
        "My sister is coming to visit next weekend.", "I can't find my keys anywhere.",
        "We need to buy milk, eggs and bread.", "That movie was much better than I expected.",
        "Please close the window, it's getting cold.", "The kids have a football match on Saturday.",
        "I'll call you back after lunch.", "Have you seen the new bakery on the corner?",
        "It's going to rain all week, apparently.", "Remind me to water the plants.",
        "The report is due by the end of the month.", "I really enjoyed the concert last night.",
        "Turn left at the next traffic light.", "We should paint the living room green.",
        "Can we talk about the budget for a minute?", "I'm going to the gym after work.",
        "The printer is out of paper again.", "Let me know when you are ready to go.",
        "Our flight leaves at seven in the morning.", "I forgot to bring my umbrella.",
        "The soup needs a little more salt.", "Thank you so much for your help today.",
        "Good morning, everyone, let's get started.", "Is anyone using this chair?",
    ]

    /// Near misses: sentences that start like the phrase, or hold its sounds.
    static let nearMisses = [
        "Hey, can you help me with this box?", "Hey Conrad, how was your holiday?", "Hey, come over here for a second.",
        "Hey, can fabric softener go in this machine?", "Okay, confirm the order for tomorrow.", "Okay, come in, the door is open.", "Hey, Karen, are you coming?",
        "Conference calls take up my whole day.", "Hey, confirmed, see you at noon.", "Can you find the remote?",
        "He can fly to Boston on Friday.", "Hey, calm down, it's only a game.", "Hey Jeff, how are you?",
        "We had a long confab about the garden.", "The confab lasted until midnight.", "Hey, come fast, the bus is here!",
        "Hey, Kevin, can you hear me?", "Comfortable shoes are important for hiking.", "Hey, that's my coffee!",
        "Hey, good to see you again.", "Hey, Carmen, nice haircut.",
    ]
}
