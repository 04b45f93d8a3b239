import AudioIO
import Engine
import Foundation

// Dictation, shared by `confab dictate` (its screen and headless) and the dictation modes of `confab talk`:
// the microphone side (`DictationListener`: push-to-talk recording or the voice detector, and the words so far),
// the writer (`DictationWriter`: each utterance to text, in order), and where the text goes (`DictationOutput`).

/// Where dictated text goes: appended and flushed per utterance, so nothing said is lost on a kill.
///
/// Plain text (the default) is one line per utterance and nothing else, so a pipe or a file gets only the words;
/// the words so far (`partial`) are shown only on a terminal's standard error, as one line rewritten in place and
/// erased when the utterance's line is written. JSON (`json: true`): `{"text": …}` per utterance and, while it is
/// spoken, `{"partial": …}` lines (as `converse --json` prints them).
final class DictationOutput: @unchecked Sendable {
    private let handle: FileHandle
    let path: String
    let json: Bool
    private let lock = NSLock()
    private let status: StatusLine?
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static var stdout: DictationOutput { DictationOutput(handle: .standardOutput, path: "-") }

    /// - Parameter partialsOnTerminal: plain text: show the words so far on standard error when it is a terminal.
    init(handle: FileHandle, path: String, json: Bool = false, partialsOnTerminal: Bool = false) {
        self.handle = handle; self.path = path; self.json = json
        let line = partialsOnTerminal && !json ? StatusLine() : nil
        status = line?.enabled == true ? line : nil
    }

    convenience init(path: String, json: Bool = false, partialsOnTerminal: Bool = false) throws {
        if path == "-" { self.init(handle: .standardOutput, path: "-", json: json, partialsOnTerminal: partialsOnTerminal); return }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw AudioFileError(path: path, problem: "cannot create the output file")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw AudioFileError(path: path, problem: "cannot open for writing") }
        h.seekToEndOfFile()
        self.init(handle: h, path: path, json: json, partialsOnTerminal: partialsOnTerminal)
    }

    /// Called once when the output cannot be written (a full disk): the text goes on to the screen, not the file.
    var onError: (@Sendable (String) -> Void)? {
        get { lock.withLock { errorHandler } }
        set { lock.withLock { errorHandler = newValue } }
    }
    private var errorHandler: (@Sendable (String) -> Void)?
    private var failed = false

    /// One utterance's text.
    func write(_ text: String) {
        let problem = lock.withLock { () -> String? in
            status?.finish()
            guard !failed else { return nil }
            do {
                try handle.write(contentsOf: Data(((json ? jsonLine("text", text) : text) + "\n").utf8))
                if path != "-" { try handle.synchronize() }
                return nil
            } catch {
                failed = true
                let why = (error as NSError).userInfo[NSUnderlyingErrorKey].map { "\($0)" } ?? error.localizedDescription
                return "\(path == "-" ? "standard output" : path): cannot write the dictation (\(Self.reason(error, why))): the output is off from here on"
            }
        }
        guard let problem else { return }
        if let handler = onError { handler(problem) } else { printErr("confab: \(problem)") }
    }

    /// errno's text for a failed write, when Foundation has one.
    static func reason(_ error: Error, _ fallback: String) -> String {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(u.code))) }
        return fallback
    }

    /// The words so far of the utterance being spoken (provisional: its `write` follows).
    func partial(_ words: String) {
        lock.withLock {
            if json { put(jsonLine("partial", words)) } else { status?.show("… " + Self.tail(words, status?.columns ?? 80)) }
        }
    }

    /// The speech gave no text after all (too short, nothing recognized): the words so far are withdrawn.
    func dropPartial() { lock.withLock { status?.finish() } }

    private func put(_ line: String) { if !failed { try? handle.write(contentsOf: Data((line + "\n").utf8)) } }

    private func jsonLine(_ key: String, _ value: String) -> String {
        (try? encoder.encode([key: value])).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// The end of `words` that fits a line of `columns` (the newest words matter most while speaking).
    static func tail(_ words: String, _ columns: Int) -> String {
        let room = max(8, columns - 4)
        return words.count <= room ? words : "…" + words.suffix(room - 1)
    }
}

/// Writes down dictated speech: each utterance is transcribed with the recognizer already loaded (never a second
/// copy), one after another on a queue of its own so the screen keeps drawing, and its text is appended to the
/// output (flushed per utterance) and handed to `onText`. The recognizer serializes its own calls, so a
/// conversation sharing it waits its turn rather than racing.
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
                if let text = try Self.text(of: samples, sampleRate: sampleRate, asr) { sink?.write(text); onText(text) } else {
                    sink?.dropPartial(); onNothing()
                }
            } catch {
                sink?.dropPartial()
                onError("dictation: speech recognition failed: \(error)")
            }
        }
    }

    /// Waits until everything queued is written down.
    func finish() { group.wait() }

    /// Waits until everything queued is written down; false if `timeout` passed first.
    @discardableResult
    func finish(timeout: Double) -> Bool { group.wait(timeout: .now() + timeout) == .success }

    /// What one utterance says, trimmed; nil when nothing was recognized (silence, a cough).
    /// `provisional`: the words so far of speech in progress (see `Transcribing.transcribeProvisional`).
    static func text(of samples: [Float], sampleRate: Int = 16000, _ asr: any Transcribing, provisional: Bool = false) throws -> String? {
        let audio = sampleRate == 16000 ? samples : Resampler.resample(samples, from: sampleRate, to: 16000)
        let text = try (provisional ? asr.transcribeProvisional(audio) : asr.transcribe(audio)).text
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// The words so far, for dictation's partial transcripts: the same recognizer, only while nothing is queued
    /// here (and `busy` says nothing else needs the CPU).
    func partials(sampleRate: Int, interval: Double = 0.5, busy: @escaping @Sendable () -> Bool = { false }) -> DictationListener.Partials {
        let asr = asr
        return DictationListener.Partials(
            recognize: { try Self.text(of: $0, sampleRate: sampleRate, asr, provisional: true) ?? "" },
            isIdle: { [weak self] in !(self?.isBusy ?? true) && !busy() },
            interval: interval)
    }
}

/// Dictation's side of the microphone. Push-to-talk: what is heard between `startRecording` and `stopRecording` is
/// one utterance. Hands-free: the voice detector cuts the utterances (each ends after `hangover` of silence) and
/// hands them to `onUtterance`. While an utterance is spoken, its words so far are recognized again every
/// `Partials.interval` of audio by a `PartialTranscriber` (the conversation's own mechanism), only while nothing
/// else needs the recognizer (`Partials.isIdle`) and never two at once, and handed to `onPartial`; none starts
/// while the speech pauses, and the one running is cancelled the moment the utterance ends (push-to-talk closed,
/// the hangover passed), so the words so far never come after the utterance's text.
///
/// `process` runs on the capture thread (not an audio thread: it allocates the handed-out utterances); the other
/// calls come from any thread. The callbacks are called outside the listener's lock (`onPartial` under the
/// partial transcriber's: it must take no lock that is held while calling into the listener).
final class DictationListener: @unchecked Sendable {
    struct Partials: Sendable {
        /// The words in the samples (at the listener's rate).
        var recognize: @Sendable ([Float]) throws -> String
        /// Nothing else needs the recognizer or the CPU (no utterance waiting to be written down, no reply).
        var isIdle: @Sendable () -> Bool
        var interval = 0.5
    }
    enum Speech: Sendable, Equatable {
        /// Hands-free: speech began.
        case started
        /// Hands-free: the utterance is over and went to `onUtterance`.
        case ended
        /// Hands-free: the speech was too short to be an utterance (its words so far are void).
        case dropped
    }

    let sampleRate: Int
    private let lock = NSLock()
    private let vad: EnergyVAD
    private let frame: UnsafeMutablePointer<Float>
    private var filled = 0
    private var position = 0                  // samples processed (the partials' timeline)
    private var handsFree = false
    private var paused = false                // hands-free: speech paused (the hangover may end it)
    private var recording = false
    private var recorded: [Float] = []
    private var finished = false
    private let limit: Int
    private let partials: PartialTranscriber?
    private let isIdle: @Sendable () -> Bool
    private let onSpeech: @Sendable (Speech) -> Void
    private let onUtterance: @Sendable ([Float]) -> Void

    /// - Parameters:
    ///   - maxRecording: seconds a push-to-talk recording keeps at most (a forgotten open microphone cannot eat the memory).
    ///   - partials: how to recognize the words so far (nil: no partial transcripts).
    init(sampleRate: Int, hangover: Double = 0.5, maxRecording: Double = 600, partials: Partials? = nil,
         onPartial: @escaping @Sendable (String) -> Void = { _ in },
         onSpeech: @escaping @Sendable (Speech) -> Void = { _ in },
         onUtterance: @escaping @Sendable ([Float]) -> Void = { _ in }) {
        self.sampleRate = sampleRate
        var p = EnergyVAD.Parameters()
        p.sampleRate = sampleRate
        p.hangover = hangover
        let detector = EnergyVAD(p)
        vad = detector
        frame = .allocate(capacity: detector.frameSize)
        frame.initialize(repeating: 0, count: detector.frameSize)
        limit = Int(maxRecording * Double(sampleRate))
        self.partials = partials.map {
            PartialTranscriber(sampleRate: sampleRate, interval: $0.interval, frameSize: detector.frameSize,
                               recognize: $0.recognize, publish: onPartial)
        }
        if let given = partials { isIdle = given.isIdle } else { isIdle = { false } }
        self.onSpeech = onSpeech; self.onUtterance = onUtterance
    }

    deinit { frame.deallocate() }

    /// Samples of one voice-detector frame (a convenient read size).
    var frameSize: Int { vad.frameSize }

    /// Hands-free dictation on or off. Turning it off hands the utterance being spoken (if long enough) on.
    var isHandsFree: Bool {
        get { lock.withLock { handsFree } }
        set {
            let (utterance, event) = lock.withLock { () -> ([Float]?, Speech?) in
                guard newValue != handsFree, !finished else { return (nil, nil) }
                handsFree = newValue
                partials?.stop(); paused = false; filled = 0
                if newValue { vad.reset(); return (nil, nil) }
                return Self.flush(vad)
            }
            hand(utterance, event)
        }
    }

    /// Push-to-talk recording open.
    var isRecording: Bool { lock.withLock { recording } }
    /// Hands-free: inside an utterance.
    var hearingSpeech: Bool { lock.withLock { handsFree && vad.inSpeech } }

    /// Push-to-talk: opens the microphone (a new recording).
    func startRecording() {
        lock.withLock {
            guard !finished else { return }
            partials?.stop()
            recording = true
            recorded.removeAll(keepingCapacity: true)
            partials?.restart(at: position)
        }
    }

    /// Push-to-talk: closes the microphone and returns what it recorded (taken once).
    func stopRecording() -> [Float] {
        lock.withLock {
            partials?.stop()
            recording = false
            defer { recorded = [] }
            return recorded
        }
    }

    /// The next samples from the microphone. `silent` (muted): nothing is recorded and the voice detector hears
    /// silence, so an utterance in progress ends.
    func process(_ samples: UnsafePointer<Float>, count n: Int, silent: Bool = false) {
        guard n > 0 else { return }
        let idle = partials != nil && isIdle()
        var utterances: [[Float]] = []
        var events: [Speech] = []
        lock.withLock {
            guard !finished, recording || handsFree else { position += n; return }
            let end = position + n
            if recording {
                let k = silent ? 0 : min(n, limit - recorded.count)
                if k > 0 { recorded.append(contentsOf: UnsafeBufferPointer(start: samples, count: k)) }
                if idle, let partials, !partials.isRunning, partials.isDue(at: end), recorded.count >= partials.shortest {
                    partials.start(recorded, at: end)
                }
            }
            if handsFree {
                var i = 0
                while i < n {
                    let k = min(n - i, vad.frameSize - filled)
                    if silent { (frame + filled).update(repeating: 0, count: k) } else { (frame + filled).update(from: samples + i, count: k) }
                    filled += k; i += k
                    guard filled == vad.frameSize else { continue }
                    filled = 0
                    let at = position + i
                    switch vad.process(UnsafeBufferPointer(start: frame, count: vad.frameSize)) {
                    case .speechStarted:
                        paused = false; partials?.restart(at: at); events.append(.started)
                    case .speechPaused:
                        // No new partial while the hangover may end the utterance; the one running may finish (the
                        // final recognition starts only when the hangover has passed).
                        paused = true
                    case .speechResumed:
                        paused = false
                    case .speechEnded(let u):
                        paused = false; partials?.stop(); utterances.append(u.samples); events.append(.ended)
                    case .speechDiscarded:
                        paused = false; partials?.stop(); events.append(.dropped)
                    case nil:
                        if idle, !paused, vad.inSpeech, let partials, !partials.isRunning, partials.isDue(at: at),
                           let soFar = vad.speechSoFar(), soFar.count >= partials.shortest {
                            partials.start(soFar, at: at)
                        }
                    }
                }
            }
            position = end
        }
        var u = 0
        for e in events {
            onSpeech(e)                     // first: the utterance may be written down before this returns
            if e == .ended { onUtterance(utterances[u]); u += 1 }
        }
    }

    /// The end of the input: hands-free, the utterance being spoken is handed on (as if the hangover had passed);
    /// nothing is processed afterwards. An open push-to-talk recording stays for `stopRecording`.
    func finish() {
        let (utterance, event) = lock.withLock { () -> ([Float]?, Speech?) in
            guard !finished else { return (nil, nil) }
            finished = true
            partials?.stop()
            return handsFree ? Self.flush(vad) : (nil, nil)
        }
        hand(utterance, event)
    }

    private static func flush(_ vad: EnergyVAD) -> ([Float]?, Speech?) {
        let speaking = vad.inSpeech
        if case .speechEnded(let u)? = vad.finish() { return (u.samples, .ended) }
        return (nil, speaking ? .dropped : nil)
    }

    private func hand(_ utterance: [Float]?, _ event: Speech?) {
        if let event { onSpeech(event) }
        if let utterance { onUtterance(utterance) }
    }
}
