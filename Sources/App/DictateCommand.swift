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
        In a terminal: Space starts and stops recording (push-to-talk); Tab
        switches to hands-free (the voice detector cuts utterances); q quits.
        Without a terminal (piped, or --input): hands-free, one line per utterance.

        While you speak, the words so far are shown provisionally (about every
        0.5 s, only while the recognizer has nothing else to do) and replaced by
        the utterance's text: on the screen (dimmed, "you ‥"); with --json as
        {"partial": …} lines before each utterance's {"text": …} line; in plain
        text only on standard error when it is a terminal (the output gets the
        final lines alone, so a pipe stays clean).

        Defaults: --model tiny.en  --device default  --hangover 0.5
          partials on  plain text (no --json)
        """
    )

    @Option(name: [.short, .customLong("output")], help: "Append each utterance's text to this file (`-`: stdout).") var output: String?
    @Option(help: "Whisper model name from the store, or a CTranslate2 model directory.") var model = "tiny.en"
    @Option(help: "Read the microphone from this audio file instead of a device.") var input: String?
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @Option(help: "Seconds of silence that end an utterance (hands-free).") var hangover = 0.5
    @Flag(help: "Without a screen: one JSON object a line, {\"text\": …} per utterance and {\"partial\": words so far} while you speak.")
    var json = false
    @Flag(help: "No partial transcripts (the words so far, recognized again while you speak).") var noPartials = false
    @Option(help: "Threads for the matrix products.") var threads: Int?
    @Flag(help: "No colours on the dictation screen (also when NO_COLOR is set).") var noColor = false
    @OptionGroup var audio: AudioDeviceOptions

    func run() throws {
        // A signal while the model loads ends the process at once (nothing was said yet); later ones stop cleanly.
        let stop = StopFlag.install(loading: "loading the model")
        do {
            EngineThreads.configure(threads)
            let dir = try ModelStore().resolve(model, kind: .whisper)
            let asr = try WhisperTranscriber(directory: dir)
            stop.loaded()
            // A microphone that stops working ends the dictation, with everything said until then written down.
            let micLost = FirstError()
            let source: any CaptureFrameSource
            if let input {
                source = try FileCaptureSource(path: input, sampleRate: 16000)
            } else {
                source = try DeviceCaptureSource(ALSACapture(device: audio.captureName, sampleRate: 16000, options: audio.alsa),
                                                 onError: { micLost.set("\($0): the dictation ends (what was said is written down)") })
            }
            if input == nil, !json, isatty(0) == 1, isatty(1) == 1, output != "-" {
                let sink = try output.map { try DictationOutput(path: $0) }
                let screen = DictationScreen(asr: asr, source: source, sink: sink, hangover: hangover, partials: !noPartials,
                                             modelName: model, device: audio.captureName, seconds: seconds, micLost: micLost)
                let signal = try screen.run(color: !noColor)
                // The screen is gone: its problems once more, as lines that stay.
                for m in screen.faults.messages { printErr("confab: \(m)") }
                if let sig = signal { printErr("confab: stopped by \(signalName(sig))"); throw ExitCode(128 + sig) }
                if !screen.faults.messages.isEmpty { throw ExitCode(1) }
            } else {
                let sink = try DictationOutput(path: output ?? "-", json: json, partialsOnTerminal: !noPartials)
                try dictateHandsFree(asr: asr, source: source, sink: sink, hangover: hangover, partials: !noPartials, seconds: seconds,
                                     stop: stop, micLost: micLost)
            }
        } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch { throw fail(error) }
    }
}

/// The first of several reports (a device's failure is said once).
final class FirstError: @unchecked Sendable {
    let lock = NSLock(); var message: String?
    func set(_ m: String) { lock.withLock { if message == nil { message = m } } }
    var value: String? { lock.withLock { message } }
}

/// Hands-free dictation without a screen: the voice detector cuts utterances, each is transcribed and written as
/// one line (the words so far, meanwhile, as `DictationOutput.partial`). Ends at the end of the input, after
/// `seconds`, or on SIGINT/SIGTERM, and always writes down the utterance in progress first.
func dictateHandsFree(asr: WhisperTranscriber, source: any CaptureFrameSource, sink: DictationOutput,
                      hangover: Double, partials: Bool = true, seconds: Double?, stop: StopFlag, micLost: FirstError) throws {
    let failure = FirstError()
    let writer = DictationWriter(asr: asr, sink: sink, onText: { _ in }, onError: { m in printErr("confab: \(m)"); failure.set(m) })
    sink.onError = { m in printErr("confab: \(m)"); failure.set(m) }
    let listener = DictationListener(
        sampleRate: source.sampleRate, hangover: hangover,
        partials: partials ? writer.partials(sampleRate: source.sampleRate) : nil,
        onPartial: { sink.partial($0) },
        onSpeech: { if $0 == .dropped { sink.dropPartial() } },
        onUtterance: { writer.add($0, sampleRate: source.sampleRate) })
    listener.isHandsFree = true
    let frame = UnsafeMutablePointer<Float>.allocate(capacity: listener.frameSize)
    defer { frame.deallocate() }
    var captured = 0
    let limit = seconds.map { Int($0 * Double(source.sampleRate)) } ?? Int.max
    while !stop.isSet && captured < limit {
        let n = source.read(into: frame, count: listener.frameSize)
        if n > 0 { listener.process(frame, count: n); captured += n }
        if n < listener.frameSize { break }
    }
    source.close()
    listener.finish()
    writer.finish()
    sink.dropPartial()
    // The microphone's end is said after the last words are written down.
    if let m = micLost.value { printErr("confab: \(m)") }
    if let code = stop.exitCode() { throw ExitCode(code) }
    // Each failure was reported as it happened; the exit status says there was one.
    if failure.value != nil || micLost.value != nil { throw ExitCode(1) }
}

/// Dictation on screen: push-to-talk (Space) or hands-free (Tab), text appended as it is recognized, and the words
/// so far shown provisionally while an utterance is spoken.
final class DictationScreen: @unchecked Sendable {
    let source: any CaptureFrameSource
    let seconds: Double?
    var model = ScreenModel()
    /// What the engine threads tell the screen, in order (the screen's lock is a leaf: nothing is called under it).
    private enum Update { case partial(String), text(String), dropped, error(String) }
    private let lock = NSLock()
    private var quit = false
    private var updates: [Update] = []
    private var level: Float = -90
    private var writer: DictationWriter!
    private var listener: DictationListener!
    private let micLost: FirstError
    /// Problems met (shown on screen as they happen; the command repeats them after the screen closes).
    let faults = FaultList()

    init(asr: WhisperTranscriber, source: any CaptureFrameSource, sink: DictationOutput?, hangover: Double, partials: Bool = true,
         modelName: String, device: String, seconds: Double?, micLost: FirstError = FirstError()) {
        self.source = source; self.seconds = seconds; self.micLost = micLost
        model.title = "confab dictate"
        model.mode = .pushToTalk
        model.activity = .idle
        model.headerDetails = "\(modelName) · mic \(device)" + (sink.map { " · → \($0.path)" } ?? "")
        writer = DictationWriter(asr: asr, sink: sink,
                                 onText: { [unowned self] t in post(.text(t)) },
                                 onError: { [unowned self] e in faults.add(e); post(.error(e)) },
                                 onNothing: { [unowned self] in post(.dropped) })
        let rate = source.sampleRate
        let writer = writer!
        listener = DictationListener(
            sampleRate: rate, hangover: hangover, partials: partials ? writer.partials(sampleRate: rate) : nil,
            onPartial: { [unowned self] t in post(.partial(t)) },
            onSpeech: { [unowned self] e in if e == .dropped { post(.dropped) } },
            onUtterance: { writer.add($0, sampleRate: rate) })
        sink?.onError = { [unowned self] e in faults.add(e); post(.error(e)) }
    }

    private func post(_ u: Update) { lock.withLock { updates.append(u) } }

    /// Runs until q, the time limit, the microphone's end or a signal; returns the signal that stopped it, if one did.
    func run(color: Bool = true) throws -> Int32? {
        let terminal = try Terminal(color: color)
        defer { terminal.restore() }
        let renderer = ScreenRenderer()
        let capture = Thread { [self] in captureLoop() }
        capture.start()
        let started = Date()
        model.add(.system, "Press Space to start and stop recording, Tab for hands-free, q to quit.")
        while !terminal.terminationRequested {
            if let s = seconds, Date().timeIntervalSince(started) >= s { break }
            // The microphone stopped working: what was said is written down and the dictation ends.
            if let m = micLost.value { faults.add(m); break }
            let (pending, db) = lock.withLock { () -> ([Update], Float) in defer { updates.removeAll() }; return (updates, level) }
            for u in pending {
                switch u {
                case .partial(let t): model.partialTranscript = t
                case .text(let t): model.partialTranscript = nil; model.add(.you, t)
                case .dropped: model.partialTranscript = nil
                case .error(let e): model.partialTranscript = nil; model.status = e; model.statusIsError = true
                }
            }
            let handsFree = listener.isHandsFree, recording = listener.isRecording
            model.inputLevelDB = db
            model.talking = recording
            model.activity = recording || listener.hearingSpeech ? .hearingYou
                : writer.isBusy ? .transcribing : (handsFree ? .listening : .idle)
            model.mode = handsFree ? .handsFree : .pushToTalk
            model.help = handsFree ? "just talk · Tab push-to-talk · PgUp/PgDn scroll · q quit"
                                   : "Space start/stop recording · Tab hands-free · PgUp/PgDn scroll · q quit"
            model.tick += 1
            renderer.draw(model, on: terminal)
            guard let key = terminal.readKey(timeoutMs: 50) else { continue }
            switch key {
            case .char("q"), .control("c"), .control("d"): lock.withLock { quit = true }
            case .char(" ") where !handsFree:
                if recording { writer.add(listener.stopRecording(), sampleRate: source.sampleRate) } else { listener.startRecording() }
            case .tab:
                // Switching writes down what was being said.
                if recording { writer.add(listener.stopRecording(), sampleRate: source.sampleRate) }
                listener.isHandsFree = !handsFree
            case .pageUp: model.scrollBack += 5
            case .pageDown: model.scrollBack = max(0, model.scrollBack - 5)
            default: break
            }
            if lock.withLock({ quit }) { break }
        }
        lock.withLock { quit = true }
        // What was being said (push-to-talk open, or hands-free mid-utterance) is still written down.
        source.close()
        listener.finish()
        writer.add(listener.stopRecording(), sampleRate: source.sampleRate)
        // Let the writer finish what was said before the screen closes (a stuck recognizer is not waited for forever).
        writer.finish(timeout: 120)
        return terminal.terminationSignal
    }

    private func captureLoop() {
        let frame = UnsafeMutablePointer<Float>.allocate(capacity: listener.frameSize)
        defer { frame.deallocate() }
        while true {
            let n = source.read(into: frame, count: listener.frameSize)
            if n <= 0 { break }
            var ss: Float = 0
            for i in 0..<n { ss += frame[i] * frame[i] }
            let db = 10 * log10f(max(ss / Float(n), 1e-12))
            lock.withLock { level = db }
            listener.process(frame, count: n)
            if n < listener.frameSize || lock.withLock({ quit }) { break }
        }
    }
}
