import ArgumentParser
import AudioIO
import Engine
import Foundation

/// `confab converse`: the whole chain — speech → transcript → reply → speech — on a microphone and
/// speaker, or headless on files (`--input question.wav --output reply.wav`).
struct Converse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk with Confab: microphone → Whisper → language model → Piper voice → speaker (or files).",
        discussion: """
        Headless: --input FILE is the microphone (it may hold several questions separated by pauses) and
        --output FILE receives the spoken replies; each turn's transcript, reply and timings are printed.
        Defaults: --asr tiny.en  --llm \(DefaultLanguageModel.helpText)  --voice en_US-joe-medium  --hangover 0.5  barge-in on
                  no --wake (every utterance is answered)  --follow-up \(WakeOptions.defaultText)
        """
    )

    @Option(help: "Audio file to use as the microphone (headless).") var input: String?
    @Option(help: "WAV file to receive the spoken replies (headless; default: the playback device).") var output: String?
    @Option(help: "Whisper model name or directory.") var asr = "tiny.en"
    @Option(help: ArgumentHelp("Language model name or GGUF path (default: \(DefaultLanguageModel.helpText)).", valueName: "name")) var llm: String?
    @Option(help: "Piper voice name or .onnx path.") var voice = "en_US-joe-medium"
    @Option(help: "Seconds of silence that end your turn.") var hangover = 0.5
    @Flag(help: "Do not let your speech interrupt a reply (for setups without echo cancellation).") var noBargeIn = false
    @Option(help: "Append each turn to this JSON Lines session log.") var sessionLog: String?
    @Option(help: "Record both sides (microphone left, replies right) to this WAV.") var recordTo: String?
    @Flag(help: "Print each turn as JSON (and, while you speak, {\"partial\": words so far} lines).") var json = false
    @Flag(help: "No partial transcripts (the words so far, recognized again while you speak).") var noPartials = false
    @Option(help: "Threads for the engine.") var threads: Int?
    @OptionGroup var wake: WakeOptions
    @OptionGroup var audio: AudioDeviceOptions
    @OptionGroup var remote: RemoteLMOptions
    @OptionGroup var priority: PriorityOptions

    func run() async throws {
        // From the start: a signal while the models load ends the process at once, with a line saying so.
        let stop = StopFlag.install(loading: "loading the models")
        let faults = FaultCount()
        do {
            EngineThreads.configure(threads)
            _ = priority.apply()
            let t0 = Date()
            let transcriber = try WhisperTranscriber(directory: try ModelStore().resolve(asr, kind: .whisper))
            let generator = try remote.generator { try LlamaGenerator(model: llm ?? DefaultLanguageModel.announced()) }
            let synthesizer = try PiperSynthesizer(voice: voice)
            stop.loaded()
            if !json { printErr(String(format: "confab: models loaded in %.1f s", Date().timeIntervalSince(t0))) }

            var config = ConversationConfiguration(transcriber: transcriber, generator: generator, synthesizer: synthesizer)
            config.vad.hangover = hangover
            config.bargeIn = !noBargeIn
            config.sessionLogPath = sessionLog
            config.recordingPath = recordTo
            try wake.apply(to: &config)
            config.partialTranscripts = !noPartials
            let capture: any CaptureFrameSource
            let playback: any PlaybackSink
            var fileSink: FilePlaybackSink?
            var devices: (mic: ALSACapture, speaker: ALSAPlayer)?
            if let input {
                capture = try FileCaptureSource(path: input, sampleRate: 16000)
                let sink = try FilePlaybackSink(path: output, sampleRate: synthesizer.sampleRate, onError: {
                    faults.add(); printErr("confab: \($0): the replies' audio is not kept from here on (the conversation goes on)")
                })
                fileSink = sink; playback = sink
                // Files have no acoustic echo, and a file holding several questions is answered one by one.
                config.echoCancellation = false
                config.pauseCaptureDuringReply = true
            } else {
                let mic = try ALSACapture(device: audio.captureName, sampleRate: 16000, options: audio.alsa)
                // One rate both ways, so the echo canceller sees the reply exactly as it was played.
                let speaker = try ALSAPlayer(device: audio.playbackName, sampleRate: mic.sampleRate, options: audio.alsa)
                devices = (mic, speaker)
                // A microphone that stops working ends the conversation (after the turn in flight); a speaker that
                // does leaves the replies as text.
                capture = try DeviceCaptureSource(mic, onError: {
                    faults.add(); printErr("confab: \($0): the conversation ends (what was said is kept)")
                })
                playback = DevicePlaybackSink(speaker, onError: {
                    faults.add(); printErr("confab: \($0): replies are printed as text only from now on")
                })
                config.echoCancellation = speaker.sampleRate == mic.sampleRate
            }

            let conversation = try Conversation(config, capture: capture, playback: playback)
            let printer = Task { await Self.show(conversation.events, json: json, faults: faults) }
            conversation.start()
            // Until the input (a file, or a microphone that stopped working) has ended and its last turn is done, or a
            // signal asks to stop.
            let finished = FaultCount()
            let ending = Task {
                await conversation.waitForCaptureEnd()
                await conversation.waitUntilIdle()
                finished.add()
            }
            while !stop.isSet && finished.count == 0 { try? await Task.sleep(for: .milliseconds(50)) }
            ending.cancel()
            // A stop cancels the turn in flight (what was heard of its reply is logged); a stuck model or device is not
            // waited for long.
            let stopped = FaultCount()
            Task { await conversation.stop(); await printer.value; stopped.add() }
            let giveUp = Date().addingTimeInterval(10)
            while stopped.count == 0 && Date() < giveUp { try? await Task.sleep(for: .milliseconds(20)) }
            if stopped.count == 0 { printErr("confab: the conversation did not stop within 10 s; leaving anyway") }
            fileSink?.close()
            // Closed here, not at exit: a file-plugin speaker finishes its WAV header on close.
            devices?.mic.close(); devices?.speaker.close()
            if let code = stop.exitCode() { throw ExitCode(code) }
            if faults.count > 0 || Self.stdoutFailed.isSet { throw ExitCode(1) }
        } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch { throw fail(error) }
    }

    /// Unbuffered, so streamed reply text and whole lines keep their order.
    static func write(_ s: String) {
        // Standard output that cannot be written (a full disk, a closed pipe) is said once, not a crash.
        do { try FileHandle.standardOutput.write(contentsOf: Data(s.utf8)) } catch {
            if stdoutFailed.exchange() { return }
            printErr("confab: standard output cannot be written (\(DictationOutput.reason(error, "\(error)"))): the conversation is no longer printed")
        }
    }
    static let stdoutFailed = OnceFlag()

    /// Prints the conversation as it happens: your words, the reply as it streams, and each turn's timings.
    static func show(_ events: AsyncStream<ConversationEvent>, json: Bool, faults: FaultCount? = nil) async {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        for await e in events {
            switch e {
            case .transcript(let t) where !json:
                write("you: \(t)\nconfab: ")
            case .partialTranscript(let t) where json:
                if let d = try? encoder.encode(["partial": t]) { write(String(decoding: d, as: UTF8.self) + "\n") }
            case .notAddressed(let t):
                if json {
                    if let d = try? encoder.encode(["notAddressed": t]) { write(String(decoding: d, as: UTF8.self) + "\n") }
                } else {
                    printErr("confab: not for me (no wake phrase): \(t)")
                }
            case .replyToken(let t) where !json:
                write(t)
            case .turnFinished(let r):
                if json {
                    if let d = try? encoder.encode(r) { write(String(decoding: d, as: UTF8.self) + "\n") }
                } else {
                    let t = r.timings
                    func ms(_ v: Double?) -> String { v.map { String(format: "%.0f ms", $0 * 1000) } ?? "–" }
                    write((r.interrupted ? " [interrupted]" : "") + "\n  end of speech → transcript \(ms(t.transcript))"
                          + " · first token \(ms(t.firstToken)) · first audio \(ms(t.firstAudio))\n")
                }
            case .error(let m):
                faults?.add()
                printErr("confab: \(m)")
            default:
                break
            }
        }
    }
}

/// Problems reported while a command ran (each said once as it happened); the exit status says there was one.
final class FaultCount: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var count: Int { lock.withLock { n } }
}

/// True after the first `exchange()`.
final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    /// Sets the flag; returns whether it was already set.
    func exchange() -> Bool { lock.withLock { defer { set = true }; return set } }
    var isSet: Bool { lock.withLock { set } }
}
