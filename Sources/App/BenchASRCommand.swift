import ArgumentParser
import Engine
import Foundation

/// `confab bench asr`: per-utterance latency and real-time factor of speech recognition.
struct BenchASR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "asr",
        abstract: "Measure speech recognition: latency and real-time factor per utterance.",
        discussion: """
        Defaults: --model tiny.en  --beam 1  --runs 3 (best of)  --threads (all cores)  full encoder window
                  utterances: the given files, else /usr/share/sounds/alsa/Front_Center.wav and 1/2/4/8 s of it repeated
        """
    )

    @Argument(help: "Audio files to measure (default: built-in set).") var files: [String] = []
    @Option(help: "Whisper model name or directory.") var model = "tiny.en"
    @Option(help: "Beam size.") var beam = 1
    @Option(help: "Runs per utterance (the fastest counts).") var runs = 3
    @Option(help: "Threads.") var threads: Int?
    @Flag(help: "Encode only the frames holding audio (+ --margin): faster on short audio, but transcripts can differ.") var shortWindow = false
    @Option(help: "With --short-window: extra 10 ms frames encoded after the audio.") var margin = 100
    @Option(help: WhisperPrecision.optionHelp) var precision: WhisperPrecision?
    @Flag(help: "JSON output.") var json = false

    func run() throws {
        do {
            EngineThreads.configure(threads)
            var o = WhisperOptions()
            o.decoding.beamSize = max(1, beam)
            o.encoderMarginFrames = shortWindow ? max(0, margin) : nil
            o.precision = precision
            let asr = try WhisperTranscriber(directory: try ModelStore().resolve(model, kind: .whisper), options: o)
            var set: [(String, [Float])] = []
            if files.isEmpty {
                let path = "/usr/share/sounds/alsa/Front_Center.wav"
                let base = try WhisperTranscriber.readAudio(path)
                set.append(("Front_Center.wav", base))
                for reps in [2, 4] {
                    var x: [Float] = []
                    for _ in 0..<reps { x += base + [Float](repeating: 0, count: 4000) }
                    set.append(("Front_Center.wav x\(reps)", x))
                }
            } else {
                for f in files { set.append((f, try WhisperTranscriber.readAudio(f))) }
            }
            _ = try asr.run(set[0].1)   // warm-up (page cache, OpenBLAS threads)
            var rows: [[String: Any]] = []
            if !json {
                let rate = Bf16Kernel.available ? String(format: " (vdpbf16ps at %.2f× float32 FMA's multiply rate here)", Bf16Kernel.multiplyRateRatio) : ""
                print(String(format: "load %.0f ms, threads %d, beam %d, precision %@%@", asr.loadSeconds * 1000, EngineThreads.count, o.decoding.beamSize,
                             asr.model.precision.rawValue as NSString, rate as NSString))
            }
            for (name, samples) in set {
                var best: WhisperResult?
                for _ in 0..<max(1, runs) {
                    let r = try asr.run(samples)
                    if best == nil || r.timings.total < best!.timings.total { best = r }
                }
                guard let r = best else { continue }
                let t = r.timings
                rows.append(["utterance": name, "audio_s": t.audio, "latency_ms": t.total * 1000, "mel_ms": t.mel * 1000,
                             "encode_ms": t.encode * 1000, "decode_ms": t.decode * 1000, "rtf": t.realTimeFactor, "text": r.transcript.text])
                if !json {
                    print(String(format: "%-28@ %5.2f s  %7.1f ms (mel %5.1f enc %6.1f dec %6.1f)  RTF %.3f  %@", name as NSString, t.audio,
                                 t.total * 1000, t.mel * 1000, t.encode * 1000, t.decode * 1000, t.realTimeFactor, r.transcript.text as NSString))
                }
            }
            if json {
                let data = try JSONSerialization.data(withJSONObject: ["model": model, "threads": EngineThreads.count, "beam": o.decoding.beamSize, "precision": asr.model.precision.rawValue,
                                                                      "load_ms": asr.loadSeconds * 1000, "utterances": rows],
                                                      options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            }
        } catch { throw fail(error) }
    }
}
