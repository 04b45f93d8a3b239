import ArgumentParser
import Engine
import Foundation

/// `confab transcribe FILE…`: speech to text with Whisper in Confab's engine.
struct Transcribe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcribe",
        abstract: "Transcribe audio files (any format libsndfile reads; `-` reads stdin) with Whisper.",
        discussion: """
        Defaults: --model tiny.en  --beam 5  --task transcribe  --language (English for .en models, detected otherwise)
                  --threads (all cores)  the full 30-second encoder window (--short-window trades parity for speed)
        """
    )

    @Argument(help: "Audio files; `-` reads stdin.") var files: [String]
    @Option(help: "Whisper model name from the store, or a CTranslate2 model directory.") var model = "tiny.en"
    @Option(help: "Beam size (1 = greedy).") var beam = 5
    @Option(help: "Spoken language code (e.g. en, de); multilingual models only.") var language: String?
    @Option(help: "transcribe or translate (to English; multilingual models only).") var task = "transcribe"
    @Flag(help: "Print segment start and end times.") var timestamps = false
    @Flag(help: "Decode without timestamp tokens (<|notimestamps|>).") var noTimestampTokens = false
    @Flag(help: "Encode only the frames holding audio (+ --margin): faster on short audio, but transcripts can differ.") var shortWindow = false
    @Option(help: "With --short-window: extra 10 ms frames encoded after the audio.") var margin = 100
    @Option(help: WhisperPrecision.optionHelp) var precision: WhisperPrecision?
    @Flag(help: "JSON output: text, segments, language, timings.") var json = false
    @Option(help: "Threads for the matrix products.") var threads: Int?

    func run() throws {
        do {
            guard let t = WhisperOptions.Task(rawValue: task) else { throw ValidationError("--task must be transcribe or translate") }
            guard beam >= 1 && beam <= 16 else { throw ValidationError("--beam must be 1...16") }
            EngineThreads.configure(threads)
            var o = WhisperOptions()
            o.decoding.beamSize = beam
            o.decoding.withoutTimestamps = noTimestampTokens
            o.language = language
            o.task = t
            o.encoderMarginFrames = shortWindow ? max(0, margin) : nil
            o.precision = precision
            let dir = try ModelStore().resolve(model, kind: .whisper)
            let asr = try WhisperTranscriber(directory: dir, options: o)
            var outputs: [[String: Any]] = []
            for path in files {
                let samples = try WhisperTranscriber.readAudio(path)
                let r = try asr.run(samples)
                if json {
                    let tm = r.timings
                    outputs.append([
                        "file": path, "text": r.transcript.text, "language": r.transcript.language ?? NSNull(),
                        "segments": r.transcript.segments.map { ["start": $0.start, "end": $0.end, "text": $0.text] },
                        "timings": ["load": tm.load, "mel": tm.mel, "encode": tm.encode, "decode": tm.decode,
                                    "audio": tm.audio, "real_time_factor": tm.realTimeFactor],
                    ])
                } else {
                    let prefix = files.count > 1 ? "\(path): " : ""
                    if timestamps {
                        for s in r.transcript.segments {
                            print(String(format: "%@[%7.2f → %7.2f] %@", prefix, s.start, s.end, s.text.trimmingCharacters(in: .whitespaces)))
                        }
                    } else {
                        print(prefix + r.transcript.text)
                    }
                }
            }
            if json {
                let value: Any = outputs.count == 1 ? outputs[0] : outputs
                let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            }
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }
}
