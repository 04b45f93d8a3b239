import ArgumentParser
import Engine
import Foundation

/// `confab bench tts`: real-time factor and time to first audio of the Piper voice, short and long texts.
struct BenchTTS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tts",
        abstract: "Speech synthesis speed: real-time factor and time to first audio.",
        discussion: "Defaults: --voice en_US-joe-medium, --runs 3 (best run reported), seed 1, all cores."
    )

    static let shortText = "Hello! How can I help you today?"
    static let longText = """
    The quick brown fox jumps over the lazy dog. Speech synthesis turns written text into audio, one sentence \
    at a time. Dr. Smith measured 3.5 seconds of speech, e.g. a short question, in well under a second. \
    Streaming lets the first words play while the rest is still being computed, so a conversation feels natural.
    """

    @Option(help: "Voice name or path to a Piper .onnx.") var voice = "en_US-joe-medium"
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "Runs per text; the fastest is reported.") var runs = 3
    @Option(help: "Text to time instead of the built-in short and long texts.") var text: String?
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: .hidden) var im2colDecoder = false   // the decoder before the direct kernels, for before/after figures
    @Flag(help: "Also time each stage (text encoder, duration predictor, flow, decoder layers) and print its share.") var stages = false

    struct Result: Codable { var name: String; var chars: Int; var audioSeconds: Double; var seconds: Double; var rtf: Double; var firstAudioMs: Double }

    func run() throws {
        do {
            EngineThreads.configure(threads)
            let t0 = Date()
            let v = try PiperVoice(voice)
            let synth = try PiperSynthesizer(voice: v, options: SynthesisOptions(seed: 1))
            let loadMs = Date().timeIntervalSince(t0) * 1000
            if im2colDecoder { synth.engine.useDirectKernels = false; synth.engine.decoderContext = 16 }
            let texts = text.map { [("custom", $0)] } ?? [("short", Self.shortText), ("long", Self.longText)]
            // Warm-up: page in the weights and grow the scratch once.
            _ = try synth.synthesize(try v.phonemize(Self.shortText)) { _ in true }
            var results: [Result] = []
            var shares: [(String, StageTimes)] = []
            for (name, t) in texts {
                var best: Result?
                let profile = stages ? StageTimes() : nil
                synth.engine.profile = profile
                for _ in 0..<max(1, runs) {
                    profile?.reset()
                    let start = DispatchTime.now().uptimeNanoseconds
                    var first: UInt64 = 0
                    var samples = 0
                    let sentences = try v.phonemize(t)
                    try synth.synthesize(sentences) { piece in
                        if first == 0 { first = DispatchTime.now().uptimeNanoseconds }
                        samples += piece.count
                        return true
                    }
                    let secs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    let audio = Double(samples) / Double(v.config.sampleRate)
                    let r = Result(name: name, chars: t.count, audioSeconds: audio, seconds: secs, rtf: secs / max(audio, 1e-9),
                                   firstAudioMs: Double(first - start) / 1e6)
                    if best == nil || r.seconds < best!.seconds { best = r }
                }
                results.append(best!)
                if let profile { shares.append((name, profile)) }
            }
            synth.engine.profile = nil
            for (name, p) in shares {
                // Shares of the last run (stage times are summed over its sentences and decoder windows).
                let total = p.seconds.reduce(0, +)
                let lines = zip(p.names, p.seconds).map { "    " + $0.padding(toLength: 24, withPad: " ", startingAt: 0) + String(format: " %7.1f ms  %5.1f%%", $1 * 1000, 100 * $1 / max(total, 1e-12)) }
                FileHandle.standardError.write(Data(("stages, \(name) text (last run, \(String(format: "%.1f", total * 1000)) ms timed):\n" + lines.joined(separator: "\n") + "\n").utf8))
            }
            if json {
                let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
                struct Out: Codable { var voice: String; var threads: Int; var loadMs: Double; var results: [Result] }
                print(String(decoding: try enc.encode(Out(voice: voice, threads: EngineThreads.count, loadMs: loadMs, results: results)), as: UTF8.self))
            } else {
                print("voice \(voice), \(EngineThreads.count) thread(s), load \(String(format: "%.0f", loadMs)) ms")
                for r in results {
                    print(String(format: "  %-6@ %5.2f s audio in %6.3f s: RTF %.3f, first audio %.0f ms",
                                 r.name as NSString, r.audioSeconds, r.seconds, r.rtf, r.firstAudioMs))
                }
            }
        } catch { throw fail(error) }
    }
}
