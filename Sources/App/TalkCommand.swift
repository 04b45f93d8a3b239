import ArgumentParser
import AudioIO
import Engine
import Foundation
import RemoteLM
import UI

/// `confab` (no arguments) and `confab talk`: the conversation in the terminal front end.
///
/// The screen opens at once; the devices are probed, then the three models load on a background thread
/// while the screen shows each one's size and progress. Without a microphone the UI still opens and
/// offers typed input; without a playback device the replies are shown as text (and written to
/// `--output` if given). A missing model is shown with the command that installs it.
struct Talk: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "talk",
        abstract: "Talk with Confab in the terminal front end (what `confab` with no arguments opens).",
        discussion: """
        Modes (Tab cycles them in this order; --mode sets the first):
          hands-free    just talk; --hangover seconds of silence end your turn
          push-to-talk  Space opens the microphone, Space again ends your turn
          typed         type a line and press Enter; ↑/↓ recall earlier lines
          dictation     Space starts and stops; your words are written down as
                        "dictated ›" lines (and appended to --dictation-output),
                        never answered and never part of the conversation
          hands-free dictation  (--mode hands-free-dictation) dictation
                        without keys: --hangover seconds of silence end each
                        utterance, which is written down the same way
        In every mode but typed, the words so far appear while you speak
        (dimmed, "you ‥" or "dictating ‥"), replaced by the final text.

        Keys:
          Tab           next mode (the header and the key line say which)
          Space         talk / stop (push-to-talk and dictation)
          m             mute or open the microphone
          x, Esc        stop the reply
          c, s          clear the conversation, save it to ./confab-DATE.txt
          PgUp, PgDn    scroll
          q, Ctrl-C     quit
        While typing, letters are text: Enter sends, Ctrl-L clears, Ctrl-S
        saves, Ctrl-X stops the reply, Ctrl-C quits.

        Without a microphone the screen still opens, with typed input only;
        without a playback device the replies are shown as text (--output
        FILE.wav keeps them as audio).

        Defaults: --asr tiny.en  --llm \(DefaultLanguageModel.helpText)  --voice en_US-joe-medium
          --hangover 0.5  --mode hands-free  no --dictation-output (screen only)
          partials on  no --wake (every utterance is answered)  --follow-up \(WakeOptions.defaultText)
        """
    )

    enum StartMode: String, ExpressibleByArgument, CaseIterable {
        case handsFree = "hands-free", pushToTalk = "push-to-talk", typed, dictation
        case handsFreeDictation = "hands-free-dictation"
        var screenMode: ScreenModel.Mode {
            switch self {
            case .handsFree: .handsFree; case .pushToTalk: .pushToTalk; case .typed: .typed; case .dictation: .dictation
            case .handsFreeDictation: .handsFreeDictation
            }
        }
    }

    @Option(help: "Whisper model name or directory.") var asr = "tiny.en"
    @Option(help: ArgumentHelp("Language model name or GGUF path (default: \(DefaultLanguageModel.helpText)).", valueName: "name")) var llm: String?
    @Option(help: "Piper voice name or .onnx path.") var voice = "en_US-joe-medium"
    @Option(help: "The mode to start in: hands-free, push-to-talk, typed, dictation or hands-free-dictation.") var mode: StartMode = .handsFree
    @Option(help: ArgumentHelp("Append each dictated utterance to this text file (flushed per utterance).", valueName: "file"))
    var dictationOutput: String?
    @Option(help: "Write the spoken replies to this WAV instead of the playback device.") var output: String?
    @Option(help: "Seconds of silence that end your turn.") var hangover = 0.5
    @Flag(help: "Do not let your speech interrupt a reply (for setups without echo cancellation).") var noBargeIn = false
    @Flag(help: "No partial transcripts (your words so far, shown while you speak or dictate).") var noPartials = false
    @Option(help: "Append each turn to this JSON Lines session log.") var sessionLog: String?
    @Flag(help: "No colours (also when NO_COLOR is set).") var noColor = false
    @Option(help: "Threads for the engine.") var threads: Int?
    @OptionGroup var wake: WakeOptions
    @OptionGroup var audio: AudioDeviceOptions
    @OptionGroup var remote: RemoteLMOptions
    @OptionGroup var priority: PriorityOptions

    func validate() throws {
        // Standard output is the screen here; `confab dictate -o -` is the way to dictate into a pipe.
        if dictationOutput == "-" { throw ValidationError("--dictation-output -: standard output is the screen in talk (use `confab dictate -o -`)") }
    }

    func run() throws {
        EngineThreads.configure(threads)
        _ = priority.apply()
        // Opened before the screen, so a file that cannot be written is a plain one-line error.
        let remoteGenerator: RemoteChatGenerator?
        do { remoteGenerator = try remote.remoteGenerator() } catch { throw fail(error) }
        let dictationSink: DictationOutput?
        do { dictationSink = try dictationOutput.map { try DictationOutput(path: $0) } } catch { throw fail(error) }
        let terminal: Terminal
        do { terminal = try Terminal(color: !noColor) } catch { throw fail(error) }

        // Devices first (fast, and the header should say what is there). Capture starts only once the
        // models are loaded, so nothing said meanwhile is queued up as a stale turn.
        var notes: [(ScreenModel.Speaker, String)] = []
        var mic: ALSACapture?
        do { mic = try ALSACapture(device: audio.captureName, sampleRate: 16000, options: audio.alsa) } catch {
            notes.append((.error, "no microphone: \(error)"))
            notes.append((.system, "typed input only: type a line and press Enter"))
        }
        var speaker: ALSAPlayer?
        if output == nil {
            // One rate both ways, so the echo canceller sees the reply exactly as it was played.
            do { speaker = try ALSAPlayer(device: audio.playbackName, sampleRate: mic?.sampleRate ?? 22050, options: audio.alsa) } catch {
                notes.append((.error, "no playback device: \(error)"))
                notes.append((.system, "replies are shown as text only (pass --output FILE.wav to keep them as audio)"))
            }
        }
        // The language model: --llm, else the default for this machine (the smaller one where memory is short, said on screen).
        let llmChoice = llm == nil ? DefaultLanguageModel.current() : nil
        let llm = self.llm ?? llmChoice?.name ?? DefaultLanguageModel.currentName
        if let c = llmChoice, c.isFallback { notes.append((.system, "language model \(c.name): \(c.reason)")) }
        let micName = mic.map { "mic \($0.device)" } ?? "no mic"
        let speakerName = output.map { "replies → \($0)" } ?? speaker.map { "speaker \($0.device)" } ?? "no speaker"
        let dictationName = dictationOutput.map { " · dictation → \($0)" } ?? ""

        let session = TalkSession(dictationSink: dictationSink)
        let frontEnd = ConversationFrontEnd(
            terminal: terminal, controls: session.controls, hasMicrophone: mic != nil, initialMode: mode.screenMode,
            headerDetails: "\(asr) · \(remote.llmURL ?? llm) · \(voice) · \(micName) · \(speakerName)\(dictationName)")
        frontEnd.model.activity = .loading
        if mic == nil { frontEnd.model.meterLabel = "" }
        for (who, text) in notes { frontEnd.model.add(who, text) }
        if let first = notes.first { frontEnd.notice(first.1, error: true) }
        session.frontEnd = frontEnd

        let setup = TalkSetup(asr: asr, llm: llm, voice: voice, hangover: hangover, bargeIn: !noBargeIn,
                              sessionLog: sessionLog, output: output, handsFree: mode == .handsFree,
                              remoteGenerator: remoteGenerator, wakePhrase: try? wake.phrase(), followUp: wake.followUp,
                              partials: !noPartials)
        let (micDevice, speakerDevice) = (mic, speaker)
        let loader = Thread { session.start(setup, mic: micDevice, speaker: speakerDevice) }
        loader.name = "confab-load"
        loader.start()

        frontEnd.run()                      // returns with the terminal restored
        session.shutDown()
        speaker?.close()
        // What went wrong on the way was on the screen, which is gone now: each problem once more, as one line.
        for m in session.faults.messages { printErr("confab: \(m)") }
        if let sig = terminal.terminationSignal {
            printErr("confab: stopped by \(signalName(sig))")
            throw ExitCode(128 + sig)
        }
        if let problem = session.loadFailure { throw fail(TalkError(problem)) }
        if !session.faults.messages.isEmpty { throw ExitCode(1) }
    }
}

struct TalkError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// What the loader needs from the command line.
struct TalkSetup: Sendable {
    var asr, llm, voice: String
    var hangover: Double
    var bargeIn: Bool
    var sessionLog: String?
    var output: String?
    var handsFree: Bool
    /// --llm-url: the language model on a server (nil: the local `llm`).
    var remoteGenerator: RemoteChatGenerator? = nil
    /// --wake and --follow-up.
    var wakePhrase: WakePhrase? = nil
    var followUp = ConversationConfiguration.defaultFollowUpWindow
    var partials = true
}

/// The conversation behind the screen, which exists only once the models are loaded: the screen's
/// controls reach it through here (typed lines sent before that wait and go out when it is ready).
final class TalkSession: @unchecked Sendable {
    private let lock = NSLock()
    private var conversation: Conversation?
    private var gate: MicrophoneGate?
    private var fileSink: FilePlaybackSink?
    private var waitingLines: [String] = []
    private var pump: Task<Void, Never>?
    private var _loadFailure: String?
    /// Dictation modes: writes down with the conversation's own recognizer (set once it is loaded).
    private var dictation: DictationWriter?
    /// Dictation's side of the microphone (push-to-talk recording, hands-free detector, words so far).
    private var listener: DictationListener?
    private let dictationSink: DictationOutput?
    var frontEnd: ConversationFrontEnd?
    /// Device and file problems met while talking (shown on screen as they happen, repeated after it closes).
    let faults = FaultList()

    init(dictationSink: DictationOutput? = nil) { self.dictationSink = dictationSink }

    var loadFailure: String? { lock.withLock { _loadFailure } }

    var controls: ConversationFrontEnd.Controls {
        ConversationFrontEnd.Controls(
            submit: { [self] line in
                let c = lock.withLock { () -> Conversation? in
                    if conversation == nil { waitingLines.append(line) }
                    return conversation
                }
                if let c { c.submit(line) } else { frontEnd?.post(update: { $0.status = "still loading the models: the line goes out when they are ready"; $0.statusIsError = false }) }
            },
            togglePushToTalk: { [self] in
                let (c, g) = lock.withLock { (conversation, gate) }
                guard let c, let g else { frontEnd?.post(update: { $0.talking = false; $0.status = "still loading the models" }); return }
                // Open the gate before recording starts and close it after recording ends, so no frame is lost.
                if !g.pushToTalk { g.pushToTalk = true; c.togglePushToTalk() } else { c.togglePushToTalk(); g.pushToTalk = false }
            },
            interrupt: { [self] in lock.withLock { conversation }?.interrupt() },
            clear: { [self] in lock.withLock { conversation }?.clearHistory() },
            setMuted: { [self] m in lock.withLock { gate }?.muted = m },
            setHandsFree: { [self] h in lock.withLock { gate }?.handsFree = h },
            setDictating: { [self] on in
                let (g, writer) = lock.withLock { (gate, dictation) }
                guard let g, let writer else {
                    frontEnd?.post(update: { $0.talking = false; $0.status = "still loading the models" }); return
                }
                if on { g.startDictation(); return }
                let said = g.stopDictation()
                guard !said.isEmpty else { return }
                frontEnd?.post(update: { m in m.activity = .transcribing })
                writer.add(said, sampleRate: g.sampleRate)
            },
            setHandsFreeDictation: { [self] on in
                // Before the models are loaded the screen's mode is applied when they are (see `start`).
                lock.withLock { listener }?.isHandsFree = on
            }
        )
    }

    /// On the loader thread: the three models, with their sizes and progress on screen, then the conversation.
    func start(_ setup: TalkSetup, mic: ALSACapture?, speaker: ALSAPlayer?) {
        guard let frontEnd else { return }
        let t0 = Date()
        do {
            let store = try ModelStore()
            let transcriber = try load("speech recognition", setup.asr, .whisper, store, frontEnd, step: 0) {
                try WhisperTranscriber(directory: try store.resolve(setup.asr, kind: .whisper))
            }
            let generator: any ResponseGenerating = try load("language model", setup.remoteGenerator?.endpoint.absoluteString ?? setup.llm, .llm, store, frontEnd, step: 1) {
                if let remote = setup.remoteGenerator { return remote }
                return try LlamaGenerator(model: setup.llm)
            }
            let synthesizer = try load("voice", setup.voice, .voice, store, frontEnd, step: 2) {
                try PiperSynthesizer(voice: setup.voice)
            }

            var config = ConversationConfiguration(transcriber: transcriber, generator: generator, synthesizer: synthesizer)
            config.vad.hangover = setup.hangover
            config.bargeIn = setup.bargeIn
            config.sessionLogPath = setup.sessionLog
            config.wakePhrase = setup.wakePhrase
            config.followUpWindow = setup.followUp
            config.partialTranscripts = setup.partials

            let faults = self.faults
            // A speaker that stops working leaves the replies as text; a microphone that does leaves typed input.
            let speakerLost: @Sendable (String) -> Void = { [weak frontEnd] m in
                let line = "\(m): replies are shown as text only from now on"
                faults.add(line); frontEnd?.post(.error(line))
            }
            let micLost: @Sendable (String) -> Void = { [weak frontEnd] m in
                let line = "\(m): typed input only from now on"
                faults.add(line); frontEnd?.postMicrophoneLost(line)
            }
            let playback: any PlaybackSink
            if let speaker {
                playback = DevicePlaybackSink(speaker, onError: speakerLost)
            } else {
                let sink = try FilePlaybackSink(path: setup.output, sampleRate: synthesizer.sampleRate, onError: { [weak frontEnd] m in
                    let line = "\(m): the replies' audio is not kept from here on (they are still shown)"
                    faults.add(line); frontEnd?.post(.error(line))
                })
                lock.withLock { fileSink = sink }
                playback = sink
            }
            // Dictation shares the recognizer just loaded (and the microphone, through the gate).
            let written = dictationSink.map { "written to \($0.path)" }
            let writer = DictationWriter(
                asr: transcriber, sink: dictationSink,
                onText: { [weak frontEnd] text in
                    frontEnd?.post(update: { m in
                        m.partialTranscript = nil
                        m.add(.dictated, text)
                        if m.activity == .transcribing { m.activity = m.restingActivity }
                        if !m.statusIsError { m.status = written }
                    })
                },
                onError: { [weak frontEnd] message in
                    frontEnd?.post(update: { m in
                        m.status = message; m.statusIsError = true
                        if m.activity == .transcribing { m.activity = m.restingActivity }
                    })
                },
                onNothing: { [weak frontEnd] in
                    frontEnd?.post(update: { m in
                        m.partialTranscript = nil
                        m.status = "no words recognized"; m.statusIsError = false
                        if m.activity == .transcribing { m.activity = m.restingActivity }
                    })
                })
            // Hands-free dictation, and the words so far while dictating: the same recognizer, only while nothing is
            // being written down and no turn is in flight.
            let rate = mic?.sampleRate ?? 16000
            let dictationListener = DictationListener(
                sampleRate: rate, hangover: setup.hangover,
                partials: setup.partials ? writer.partials(sampleRate: rate, busy: { [weak self] in
                    self.map { s in s.lock.withLock { s.conversation }?.hasTurnInFlight ?? false } ?? true
                }) : nil,
                onPartial: { [weak frontEnd] words in frontEnd?.post(update: { m in if m.mode.isDictation { m.partialTranscript = words } }) },
                onSpeech: { [weak frontEnd] e in
                    frontEnd?.post(update: { m in
                        guard m.mode == .handsFreeDictation || e == .dropped else { return }
                        switch e {
                        case .started: m.activity = .hearingYou
                        case .ended: m.activity = .transcribing
                        case .dropped: m.partialTranscript = nil; if m.activity == .hearingYou { m.activity = m.restingActivity }
                        }
                    })
                },
                onUtterance: { writer.add($0, sampleRate: rate) })
            var gateOrNil: MicrophoneGate?
            if let mic {
                do {
                    let g = MicrophoneGate(try DeviceCaptureSource(mic, onError: micLost),
                                           onLevel: { [weak frontEnd] db in frontEnd?.post(.audioLevel(db)) },
                                           dictation: dictationListener)
                    g.handsFree = setup.handsFree
                    gateOrNil = g
                } catch {
                    frontEnd.postMicrophoneLost("the microphone did not start: \(error) (typed input only)")
                }
            }
            let capture = gateOrNil
            config.echoCancellation = capture != nil && speaker != nil && speaker?.sampleRate == mic?.sampleRate
            let conversation = try Conversation(config, capture: capture, playback: playback)
            let events = conversation.events
            let pump = Task.detached { [weak frontEnd] in
                // The gate reports the raw microphone level (it also moves while push-to-talk is closed).
                for await e in events {
                    if case .audioLevel = e { continue }
                    if case .error(let m) = e { faults.add(m) }
                    frontEnd?.post(e)
                }
                frontEnd?.postFinished()
            }
            let lines = lock.withLock { () -> [String] in
                self.conversation = conversation; gate = capture; self.pump = pump; dictation = writer
                listener = capture == nil ? nil : dictationListener
                defer { waitingLines.removeAll() }
                return waitingLines
            }
            let seconds = Date().timeIntervalSince(t0)
            frontEnd.post(update: { m in
                // Keys pressed while loading (Tab, m) changed the screen's mode: the gate follows it.
                capture?.handsFree = m.mode == .handsFree
                capture?.muted = m.muted
                if capture != nil { dictationListener.isHandsFree = m.mode == .handsFreeDictation }
                m.progress = nil; m.activityDetail = nil
                m.activity = m.restingActivity
                m.add(.system, String(format: "ready in %.1f s — ", seconds) + TalkSession.hint(m.mode))
                m.status = nil
            })
            conversation.start()
            for l in lines { conversation.submit(l) }
        } catch {
            let message = "\(error)"
            lock.withLock { _loadFailure = message }
            frontEnd.post(update: { m in
                m.progress = nil; m.activityDetail = nil; m.activity = .idle
                m.add(.error, message)
                m.add(.system, "press q (or Ctrl-C) to quit")
                m.status = message; m.statusIsError = true
            })
        }
    }

    static func hint(_ mode: ScreenModel.Mode) -> String {
        switch mode {
        case .handsFree: return "just talk (Tab for push-to-talk, typed input or dictation)"
        case .pushToTalk: return "press Space, speak, press Space again"
        case .dictation: return "dictation: press Space, speak, press Space again; the words are written down, not answered (Tab for the other modes)"
        case .handsFreeDictation: return "hands-free dictation: just talk; each pause ends an utterance, written down, not answered (Tab for the other modes)"
        default: return "type a line and press Enter"
        }
    }

    /// Loads one model with a line on screen: "language model qwen2.5-coder-0.5b (469 MB) … ready in 1.2 s".
    private func load<T>(_ what: String, _ name: String, _ kind: ModelManifest.Kind, _ store: ModelStore,
                         _ frontEnd: ConversationFrontEnd, step: Int, _ body: () throws -> T) throws -> T {
        let size = Self.size(of: name, kind, store).map { " (\(formatBytes($0)))" } ?? ""
        let line = "loading \(what) \(name)\(size) …"
        frontEnd.post(update: { m in
            m.add(.system, line)
            m.activity = .loading; m.activityDetail = "\(what) \(step + 1)/3"; m.progress = Double(step) / 3
        })
        let t = Date()
        let value: T
        do { value = try body() } catch {
            frontEnd.post(update: { m in if let i = m.entries.lastIndex(where: { $0.text == line }) { m.entries[i].text = line + " failed" } })
            throw TalkError("\(what): \(error)")
        }
        let done = String(format: "%@ ready in %.1f s", line, Date().timeIntervalSince(t))
        frontEnd.post(update: { m in
            if let i = m.entries.lastIndex(where: { $0.text == line }) { m.entries[i].text = done }
            m.progress = Double(step + 1) / 3
        })
        return value
    }

    /// Bytes on disk: the manifest's size for a store name, the file (or folder) size for a path.
    static func size(of name: String, _ kind: ModelManifest.Kind, _ store: ModelStore) -> Int? {
        if let e = store.manifest.entry(named: name), e.kind == kind { return e.totalSize }
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: name, isDirectory: &isDir) else { return nil }
        if !isDir.boolValue { return (try? fm.attributesOfItem(atPath: name)[.size] as? Int) ?? nil }
        let files = (try? fm.contentsOfDirectory(atPath: name)) ?? []
        return files.reduce(0) { $0 + (((try? fm.attributesOfItem(atPath: name + "/" + $1)[.size] as? Int) ?? nil) ?? 0) }
    }

    /// After the screen closed: stop the conversation (cancels a reply, ends capture) and close the reply file.
    func shutDown() {
        let (c, sink, pump, writer) = lock.withLock { (conversation, fileSink, self.pump, dictation) }
        // What was dictated last (also on quit with the microphone open) reaches the file before exit.
        if let writer, !writer.finish(timeout: 30) { FileHandle.standardError.write(Data("confab: the last dictation was not written down in time\n".utf8)) }
        if let c {
            let done = DispatchSemaphore(value: 0)
            Task.detached { await c.stop(); await pump?.value; done.signal() }
            // A reply being written finishes its current token; don't hang the terminal on a stuck device.
            _ = done.wait(timeout: .now() + 5)
        }
        sink?.close()
    }
}

/// The microphone as the conversation sees it. The engine's hands-free switch is fixed when it is
/// built, so the screen's modes are made here: push-to-talk (closed) and mute hand the conversation
/// silence, which its voice detector never takes for a turn; hands-free and an open push-to-talk hand it
/// the microphone. The dictation modes hand the microphone to dictation's listener instead (the conversation
/// hears silence). The level meter is fed from the real signal, so it moves in every mode but mute.
final class MicrophoneGate: CaptureFrameSource, @unchecked Sendable {
    private let source: any CaptureFrameSource
    private let onLevel: @Sendable (Float) -> Void
    private let lock = NSLock()
    private var _handsFree = true, _pushToTalk = false, _muted = false
    private var sinceLevel = 0
    /// Dictation: push-to-talk recording (Space) and hands-free (the voice detector), with the words so far.
    let dictation: DictationListener

    /// - Parameter dictation: dictation's listener (nil: one that records push-to-talk dictation only).
    init(_ source: any CaptureFrameSource, onLevel: @escaping @Sendable (Float) -> Void, dictation: DictationListener? = nil) {
        self.source = source; self.onLevel = onLevel
        self.dictation = dictation ?? DictationListener(sampleRate: source.sampleRate)
    }

    var handsFree: Bool { get { lock.withLock { _handsFree } } set { lock.withLock { _handsFree = newValue } } }
    var pushToTalk: Bool { get { lock.withLock { _pushToTalk } } set { lock.withLock { _pushToTalk = newValue } } }
    var muted: Bool { get { lock.withLock { _muted } } set { lock.withLock { _muted = newValue } } }

    var sampleRate: Int { source.sampleRate }

    /// Opens the microphone for dictation: from now on it is recorded for writing down and the
    /// conversation hears silence (so dictated words never become a turn or enter its history).
    func startDictation() { dictation.startRecording() }

    /// Closes the dictation microphone and returns what it recorded.
    func stopDictation() -> [Float] { dictation.stopRecording() }

    func read(into buffer: UnsafeMutablePointer<Float>, count: Int) -> Int {
        let n = source.read(into: buffer, count: count)
        let dictating = dictation.isRecording || dictation.isHandsFree
        let (open, muted) = lock.withLock { (!_muted && !dictating && (_handsFree || _pushToTalk), _muted) }
        sinceLevel += n
        if sinceLevel >= sampleRate / 10 {          // ten meter readings a second
            sinceLevel = 0
            var ss: Float = 0
            for i in 0..<n { ss += buffer[i] * buffer[i] }
            onLevel(muted ? -120 : 10 * log10f(max(ss / Float(max(n, 1)), 1e-12)))
        }
        // Dictation hears the real signal (silence while muted: nothing is recorded, and an utterance ends).
        if dictating && n > 0 { dictation.process(buffer, count: n, silent: muted) }
        if !open && n > 0 { buffer.update(repeating: 0, count: n) }
        return n
    }

    func close() { source.close() }
}

/// Problems reported while a command ran, each once, in order.
final class FaultList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ m: String) { lock.withLock { if !list.contains(m) { list.append(m) } } }
    var messages: [String] { lock.withLock { list } }
}
