import ArgumentParser
import AudioIO
import Engine
import Foundation

/// `confab say`: text → speech with a Piper voice, sentence by sentence.
struct Say: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Speak text with a Piper voice (or write it to a WAV file).",
        discussion: """
        Defaults: --voice en_US-joe-medium, scales from the voice's .onnx.json (joe: noise 0.667, length 1.0, noise-w 0.8), \
        a random seed, all cores. Text "-" reads standard input. Without -o the speech is played; -o - writes a WAV to stdout.
        """
    )

    @Argument(help: "The text to speak (\"-\" reads standard input).") var text: String
    @Option(name: .shortAndLong, help: "Write a WAV file instead of playing (\"-\" for stdout).") var output: String?
    @Option(help: "Voice name from the model store, or a path to a Piper .onnx.") var voice = "en_US-joe-medium"
    @Option(help: "Speaker number for multi-speaker voices.") var speaker = 0
    @Option(help: "Prior noise (voice variation); default from the voice config.") var noiseScale: Float?
    @Option(help: "Duration scale (>1 is slower); default from the voice config.") var lengthScale: Float?
    @Option(help: "Duration noise (rhythm variation); default from the voice config.") var noiseW: Float?
    @Option(help: "Random seed (default: random).") var seed: UInt64?
    @Flag(help: "Print each sentence's IPA phonemes and ids as JSON lines instead of speaking.") var phonemes = false
    @Option(help: "Threads for the matrix products (default: all cores).") var threads: Int?
    @OptionGroup var audio: AudioDeviceOptions
    @Option(help: ArgumentHelp("Synthesize these comma-separated phoneme ids (one sentence) instead of text.", visibility: .hidden))
    var phonemeIds: String?
    @Flag(help: ArgumentHelp("Phonemize the text exactly as Piper does (no markdown clean-up or sentence splitting).", visibility: .hidden))
    var piperExact = false
    @Flag(help: ArgumentHelp("Write the raw model output (no peak normalization, whole-sentence decoding).", visibility: .hidden))
    var raw = false

    func run() throws {
        do {
            EngineThreads.configure(threads)
            var input = text
            if text == "-" {
                input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            let v = try PiperVoice(voice)
            var scales = v.defaultScales
            if let noiseScale { scales.noiseScale = noiseScale }
            if let lengthScale { scales.lengthScale = lengthScale }
            if let noiseW { scales.noiseW = noiseW }
            let synth = try PiperSynthesizer(voice: v, options: SynthesisOptions(scales: scales, speaker: speaker, seed: seed, normalize: !raw))
            let sentences: [PhonemizedSentence]
            if let phonemeIds {
                let ids = phonemeIds.split(whereSeparator: { $0 == "," || $0 == " " }).compactMap { Int($0) }
                guard !ids.isEmpty else { throw ValidationError("--phoneme-ids: no ids given") }
                sentences = [PhonemizedSentence(phonemes: "", ids: ids)]
            } else if piperExact {
                sentences = try EspeakPhonemizer.shared.phonemizeToIds(input, config: v.config)
            } else {
                sentences = try v.phonemize(input)
            }
            if phonemes {
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for s in sentences { print(String(decoding: try enc.encode(s), as: UTF8.self)) }
                return
            }
            guard !sentences.isEmpty else { throw ValidationError("nothing to say: the text has no speakable words") }
            guard let output else {
                try SayPlayback.play(synth, sentences, audio: audio)
                return
            }
            if raw && output.hasSuffix(".f32") {
                // Parity checks: raw little-endian float32 of all sentences, bit-exact.
                var all: [Float] = []
                for (i, sentence) in sentences.enumerated() { all += try synth.rawAudio(ids: sentence.ids, seed: (seed ?? 0) &+ UInt64(i), windowed: false) }
                try all.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: output)) }
                return
            }
            let writer = try AudioFile.Writer(path: output, sampleRate: v.config.sampleRate, channels: 1, format: .wav16)
            var s = seed ?? UInt64.random(in: 0...UInt64.max)
            for sentence in sentences {
                // Whole sentences, so each is peak-normalized as Piper does.
                let audio = raw ? try synth.rawAudio(ids: sentence.ids, seed: s, windowed: false)
                                : try synth.synthesizeSentence(sentence, seed: s)
                try writer.append(audio)
                s = s &+ 1
            }
            writer.close()
        } catch let e as ValidationError {
            throw e
        } catch { throw fail(error) }
    }
}

/// Plays as it synthesizes: each decoder window goes into the player's ring buffer as soon as it is ready,
/// so the first sound comes after the first window of the first sentence.
enum SayPlayback {
    static func play(_ synth: PiperSynthesizer, _ sentences: [PhonemizedSentence], audio: AudioDeviceOptions) throws {
        Interrupts.install()
        let player = try ALSAPlayer(device: audio.playbackName, sampleRate: synth.sampleRate, channels: 1, options: audio.alsa)
        defer { player.close() }
        let rate = player.sampleRate, ch = player.channels
        try synth.synthesize(sentences) { piece in
            if Interrupts.pending != nil { return false }
            var out = rate == synth.sampleRate ? piece : Resampler.resample(piece, from: synth.sampleRate, to: rate)
            if ch > 1 { out = out.flatMap { Array(repeating: $0, count: ch) } }
            do { _ = try out.withUnsafeBufferPointer { try player.enqueue($0) } } catch { return false }
            return Interrupts.pending == nil
        }
        if Interrupts.pending != nil { player.stop(); return }
        try player.drain()
    }
}
