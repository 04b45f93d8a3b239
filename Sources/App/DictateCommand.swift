import ArgumentParser
import AudioIO
import Engine
import Foundation
import UI

/// `confab dictate`: speech to text, utterance by utterance, to the screen, stdout or a file.
struct Dictate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dictation: transcribe what you say, utterance by utterance, to the screen, stdout or a file.",
        discussion: """
        In a terminal: Space starts and stops recording (push-to-talk); Tab switches to hands-free (the voice
        detector cuts utterances); q quits. Without a terminal (piped, or --input): hands-free, one line per utterance.
        Defaults: --model tiny.en  --device default  --hangover 0.5
        """
    )

    @Option(name: [.short, .customLong("output")], help: "Append each utterance's text to this file (`-`: stdout).") var output: String?
    @Option(help: "Whisper model name from the store, or a CTranslate2 model directory.") var model = "tiny.en"
    @Option(help: "Read the microphone from this audio file instead of a device.") var input: String?
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @Option(help: "Seconds of silence that end an utterance (hands-free).") var hangover = 0.5
    @Option(help: "Threads for the matrix products.") var threads: Int?
    @Flag(help: "No colours on the dictation screen (also when NO_COLOR is set).") var noColor = false
    @OptionGroup var audio: AudioDeviceOptions

    func run() throws {
        do {
            EngineThreads.configure(threads)
            let dir = try ModelStore().resolve(model, kind: .whisper)
            let asr = try WhisperTranscriber(directory: dir)
            let sink = try output.map { try DictationOutput(path: $0) }
            let source: any CaptureFrameSource
            if let input {
                source = try FileCaptureSource(path: input, sampleRate: 16000)
            } else {
                source = try DeviceCaptureSource(ALSACapture(device: audio.captureName, sampleRate: 16000, options: audio.alsa))
            }
            if input == nil, isatty(0) == 1, isatty(1) == 1, output != "-" {
                try DictationScreen(asr: asr, source: source, sink: sink, hangover: hangover, modelName: model,
                                    device: audio.captureName, seconds: seconds).run(color: !noColor)
            } else {
                try dictateHandsFree(asr: asr, source: source, sink: sink ?? DictationOutput.stdout, hangover: hangover, seconds: seconds)
            }
        } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch { throw fail(error) }
    }
}

/// Where dictated text goes: appended and flushed per utterance, so nothing said is lost on a kill.
final class DictationOutput: @unchecked Sendable {
    private let handle: FileHandle
    let path: String
    static let stdout = DictationOutput(handle: .standardOutput, path: "-")

    init(handle: FileHandle, path: String) { self.handle = handle; self.path = path }

    convenience init(path: String) throws {
        if path == "-" { self.init(handle: .standardOutput, path: "-"); return }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw AudioFileError(path: path, problem: "cannot create the output file")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw AudioFileError(path: path, problem: "cannot open for writing") }
        h.seekToEndOfFile()
        self.init(handle: h, path: path)
    }

    func write(_ line: String) {
        handle.write(Data((line + "\n").utf8))
        if path != "-" { try? handle.synchronize() }
    }
}

/// Writes down dictated speech, shared by `confab dictate` and dictation mode in `confab talk`: each
/// utterance is transcribed with the recognizer already loaded (never a second copy), one after another
/// on a queue of its own so the screen keeps drawing, and its text is appended to the output (flushed per
/// utterance) and handed to `onText`. The recognizer serializes its own calls, so a conversation sharing
/// it waits its turn rather than racing.
final class DictationWriter: @unchecked Sendable {
    private let asr: any Transcribing
    private let sink: DictationOutput?
    private let onText: @Sendable (String) -> Void
    private let onError: @Sendable (String) -> Void
    private let onNothing: @Sendable () -> Void
    private let queue = DispatchQueue(label: "confab-dictation", qos: .userInitiated)
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var queued = 0

    init(asr: any Transcribing, sink: DictationOutput?, onText: @escaping @Sendable (String) -> Void,
         onError: @escaping @Sendable (String) -> Void = { _ in }, onNothing: @escaping @Sendable () -> Void = {}) {
        self.asr = asr; self.sink = sink; self.onText = onText; self.onError = onError; self.onNothing = onNothing
    }

    /// Utterances waiting or being transcribed.
    var isBusy: Bool { lock.withLock { queued > 0 } }

    /// Queues one utterance (mono; resampled to the recognizer's 16 kHz if the device ran at another rate).
    func add(_ samples: [Float], sampleRate: Int = 16000) {
        guard !samples.isEmpty else { return }
        lock.withLock { queued += 1 }
        queue.async(group: group) { [self] in
            defer { lock.withLock { queued -= 1 } }
            do {
                let audio = sampleRate == 16000 ? samples : Resampler.resample(samples, from: sampleRate, to: 16000)
                if let text = try Self.text(of: audio, asr) { sink?.write(text); onText(text) } else { onNothing() }
            } catch {
                onError("dictation: speech recognition failed: \(error)")
            }
        }
    }

    /// Waits until everything queued is written down; false if `timeout` passed first.
    @discardableResult
    func finish(timeout: Double) -> Bool { group.wait(timeout: .now() + timeout) == .success }

    /// What one utterance says, trimmed; nil when nothing was recognized (silence, a cough).
    static func text(of samples: [Float], _ asr: any Transcribing) throws -> String? {
        let text = try asr.transcribe(samples).text.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}

/// Hands-free dictation without a screen: the voice detector cuts utterances, each is transcribed
/// and written as one line. Ends at the end of the input, after `seconds`, or on SIGINT/SIGTERM.
func dictateHandsFree(asr: WhisperTranscriber, source: any CaptureFrameSource, sink: DictationOutput,
                      hangover: Double, seconds: Double?) throws {
    var p = EnergyVAD.Parameters()
    p.hangover = hangover
    let vad = EnergyVAD(p)
    let stop = StopFlag.install()
    let frame = UnsafeMutablePointer<Float>.allocate(capacity: vad.frameSize)
    defer { frame.deallocate() }
    var captured = 0
    let limit = seconds.map { Int($0 * 16000) } ?? Int.max
    func emit(_ u: VoiceUtterance) throws {
        if let text = try DictationWriter.text(of: u.samples, asr) { sink.write(text) }
    }
    while !stop.isSet && captured < limit {
        let n = source.read(into: frame, count: vad.frameSize)
        if n < vad.frameSize { break }
        captured += n
        if case .speechEnded(let u) = vad.process(UnsafeBufferPointer(start: frame, count: n)) { try emit(u) }
    }
    source.close()
    if case .speechEnded(let u) = vad.finish() { try emit(u) }
}

/// SIGINT/SIGTERM set a flag instead of killing the process, so the last utterance is still written.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    private var sources: [DispatchSourceSignal] = []
    var isSet: Bool { lock.withLock { set } }

    static func install() -> StopFlag {
        let f = StopFlag()
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { f.lock.withLock { f.set = true } }
            s.resume()
            f.sources.append(s)
        }
        return f
    }
}

/// Dictation on screen: push-to-talk (Space) or hands-free (Tab), text appended as it is recognized.
final class DictationScreen: @unchecked Sendable {
    let asr: WhisperTranscriber
    let source: any CaptureFrameSource
    let sink: DictationOutput?
    let hangover: Double
    let seconds: Double?
    var model = ScreenModel()
    private let lock = NSLock()
    private var recording = false
    private var handsFree = false
    private var quit = false
    private var recorded: [Float] = []
    private var pendingText: [String] = []
    private var pendingError: String?
    private var level: Float = -90
    private var writer: DictationWriter!

    init(asr: WhisperTranscriber, source: any CaptureFrameSource, sink: DictationOutput?, hangover: Double,
         modelName: String, device: String, seconds: Double?) {
        self.asr = asr; self.source = source; self.sink = sink; self.hangover = hangover; self.seconds = seconds
        model.title = "confab dictate"
        model.mode = .pushToTalk
        model.activity = .idle
        model.headerDetails = "\(modelName) · mic \(device)" + (sink.map { " · → \($0.path)" } ?? "")
        writer = DictationWriter(asr: asr, sink: sink,
                                 onText: { [unowned self] t in lock.withLock { pendingText.append(t) } },
                                 onError: { [unowned self] e in lock.withLock { pendingError = e } })
    }

    func run(color: Bool = true) throws {
        let terminal = try Terminal(color: color)
        defer { terminal.restore() }
        let renderer = ScreenRenderer()
        let capture = Thread { [self] in captureLoop() }
        capture.start()
        let started = Date()
        model.add(.system, "Press Space to start and stop recording, Tab for hands-free, q to quit.")
        while !terminal.terminationRequested {
            if let s = seconds, Date().timeIntervalSince(started) >= s { break }
            lock.withLock {
                for t in pendingText { model.add(.you, t) }
                pendingText.removeAll()
                if let e = pendingError { model.status = e; model.statusIsError = true; pendingError = nil }
                model.inputLevelDB = level
                model.talking = recording
                model.activity = writer.isBusy ? .transcribing : (recording ? .hearingYou : (handsFree ? .listening : .idle))
                model.mode = handsFree ? .handsFree : .pushToTalk
                model.help = handsFree ? "just talk · Tab push-to-talk · PgUp/PgDn scroll · q quit"
                                       : "Space start/stop recording · Tab hands-free · PgUp/PgDn scroll · q quit"
            }
            model.tick += 1
            renderer.draw(model, on: terminal)
            guard let key = terminal.readKey(timeoutMs: 50) else { continue }
            switch key {
            case .char("q"), .control("c"), .control("d"): lock.withLock { quit = true }
            case .char(" "):
                lock.withLock {
                    guard !handsFree else { return }
                    if recording { writer.add(recorded, sampleRate: source.sampleRate); recorded.removeAll() }
                    recording.toggle()
                }
            case .tab: lock.withLock { handsFree.toggle(); recording = false; recorded.removeAll() }
            case .pageUp: model.scrollBack += 5
            case .pageDown: model.scrollBack = max(0, model.scrollBack - 5)
            default: break
            }
            if lock.withLock({ quit }) { break }
        }
        lock.withLock { quit = true; if recording && !recorded.isEmpty { writer.add(recorded, sampleRate: source.sampleRate) } }
        source.close()
        // Let the writer finish what was said before the screen closes (a stuck recognizer is not waited for forever).
        writer.finish(timeout: 120)
    }

    private func captureLoop() {
        var p = EnergyVAD.Parameters(); p.hangover = hangover
        let vad = EnergyVAD(p)
        let frame = UnsafeMutablePointer<Float>.allocate(capacity: vad.frameSize)
        defer { frame.deallocate() }
        while true {
            let n = source.read(into: frame, count: vad.frameSize)
            if n < vad.frameSize { break }
            let buf = UnsafeBufferPointer(start: frame, count: n)
            var ss: Float = 0
            for x in buf { ss += x * x }
            let db = 10 * log10f(max(ss / Float(n), 1e-12))
            let (hf, rec) = lock.withLock { (handsFree, recording) }
            let event = hf ? vad.process(buf) : nil
            lock.withLock {
                level = db
                if rec { recorded.append(contentsOf: buf) }
                if case .speechEnded(let u) = event { writer.add(u.samples, sampleRate: source.sampleRate) }
                if hf { recording = vad.inSpeech }
            }
            if lock.withLock({ quit }) { break }
        }
    }
}
