import Engine
import Foundation

/// The conversation on screen: draws the `ScreenModel`, turns keys into conversation controls and
/// folds the conversation's events into the model. Runs on the thread that calls `run()` (the only
/// thread that touches ncurses); events arrive from the engine on any thread through a small queue.
public final class ConversationFrontEnd: @unchecked Sendable {
    public struct Controls: Sendable {
        public var submit: @Sendable (String) -> Void
        public var togglePushToTalk: @Sendable () -> Void
        public var interrupt: @Sendable () -> Void
        public var clear: @Sendable () -> Void
        /// The microphone is muted (true) or open (false).
        public var setMuted: @Sendable (Bool) -> Void
        /// Hands-free listening on (true) or off (false: push-to-talk and typed input only).
        public var setHandsFree: @Sendable (Bool) -> Void
        /// Dictation mode's microphone opened (true: record) or closed (false: write down what was said).
        /// Nil: the front end offers no dictation mode.
        public var setDictating: (@Sendable (Bool) -> Void)?
        /// Hands-free dictation on (true: the voice detector cuts utterances to write down) or off (false: what is
        /// being said is written down, then the microphone goes back to the conversation's modes).
        /// Nil: the front end offers no hands-free dictation mode.
        public var setHandsFreeDictation: (@Sendable (Bool) -> Void)?
        public init(submit: @escaping @Sendable (String) -> Void, togglePushToTalk: @escaping @Sendable () -> Void,
                    interrupt: @escaping @Sendable () -> Void, clear: @escaping @Sendable () -> Void,
                    setMuted: @escaping @Sendable (Bool) -> Void, setHandsFree: @escaping @Sendable (Bool) -> Void,
                    setDictating: (@Sendable (Bool) -> Void)? = nil,
                    setHandsFreeDictation: (@Sendable (Bool) -> Void)? = nil) {
            self.submit = submit; self.togglePushToTalk = togglePushToTalk; self.interrupt = interrupt
            self.clear = clear; self.setMuted = setMuted; self.setHandsFree = setHandsFree
            self.setDictating = setDictating; self.setHandsFreeDictation = setHandsFreeDictation
        }
    }

    public var model = ScreenModel()
    private let terminal: Terminal
    private let renderer = ScreenRenderer()
    private let controls: Controls
    private var hasMicrophone: Bool
    private let lock = NSLock()
    private var pending: [ConversationEvent] = []
    private var updates: [@Sendable (inout ScreenModel) -> Void] = []
    private var microphoneLost = false
    private var finished = false
    private var muted = false
    private let saveDirectory: URL

    public init(terminal: Terminal, controls: Controls, hasMicrophone: Bool, initialMode: ScreenModel.Mode,
                headerDetails: String, saveDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) {
        self.terminal = terminal
        self.controls = controls
        self.hasMicrophone = hasMicrophone
        self.saveDirectory = saveDirectory
        model.mode = offered.contains(initialMode) ? initialMode : .typed
        model.headerDetails = headerDetails
        model.activity = model.restingActivity
    }

    /// The modes Tab goes through, in order: the three ways to talk with the model, then dictation (no model) with
    /// Space and hands-free.
    public static func modes(dictation: Bool, handsFreeDictation: Bool = false) -> [ScreenModel.Mode] {
        [.handsFree, .pushToTalk, .typed] + (dictation ? [.dictation] : []) + (handsFreeDictation ? [.handsFreeDictation] : [])
    }

    private var offered: [ScreenModel.Mode] {
        hasMicrophone ? Self.modes(dictation: controls.setDictating != nil, handsFreeDictation: controls.setHandsFreeDictation != nil)
            : [.typed]
    }

    /// Feeds engine events to the screen (call from any thread; typically a task over `Conversation.events`).
    public func post(_ event: ConversationEvent) { lock.withLock { pending.append(event) } }
    /// The event stream ended (the conversation stopped).
    public func postFinished() { lock.withLock { finished = true } }

    /// Changes what the screen shows from any thread (model loading progress, readiness); applied in order
    /// with the events, on the screen's thread.
    public func post(update: @escaping @Sendable (inout ScreenModel) -> Void) { lock.withLock { updates.append(update) } }

    /// The microphone turned out to be unusable after the screen opened: typed input from now on.
    public func postMicrophoneLost(_ reason: String) {
        post(update: { m in
            m.add(.error, reason)
            if m.mode != .typed { m.mode = .typed; m.activity = .idle }
        })
        lock.withLock { microphoneLost = true }
    }

    public func notice(_ text: String, error: Bool = false) {
        model.status = text; model.statusIsError = error
    }

    /// Runs until the user quits (q / Ctrl-C / SIGTERM). Always leaves the terminal restored.
    public func run() {
        defer { terminal.restore() }
        controls.setHandsFree(model.mode == .handsFree)
        controls.setHandsFreeDictation?(model.mode == .handsFreeDictation)
        var dirty = true
        var lastTick = Date()
        while !terminal.terminationRequested {
            let (events, changes, lost) = lock.withLock { () -> ([ConversationEvent], [@Sendable (inout ScreenModel) -> Void], Bool) in
                defer { pending.removeAll(); updates.removeAll() }
                return (pending, updates, microphoneLost)
            }
            if lost && hasMicrophone {
                hasMicrophone = false
                if model.talking { model.talking = false }
            }
            for change in changes { change(&model); dirty = true }
            for e in events { model.apply(e); dirty = true }
            if Date().timeIntervalSince(lastTick) > 0.1 { model.tick += 1; lastTick = Date(); if model.activity.isWorking { dirty = true } }
            if dirty { renderer.draw(model, on: terminal); dirty = false }
            guard let key = terminal.readKey(timeoutMs: 40) else { continue }
            dirty = true
            if handle(key) == false { break }
        }
        // Quitting while dictating still writes down what was said (the session transcribes it on shutdown).
        if model.mode == .dictation && model.talking { model.talking = false; controls.setDictating?(false) }
        if model.mode == .handsFreeDictation { controls.setHandsFreeDictation?(false) }
    }

    /// Returns false to quit.
    private func handle(_ key: Terminal.Key) -> Bool {
        switch key {
        // Ctrl-C always quits; Ctrl-D only on an empty line (as in a shell).
        case .control("c"): return false
        case .control("d") where model.input.string.isEmpty: return false
        case .resize: return true
        case .tab: cycleMode(); return true
        case .pageUp: model.scrollBack += max(1, terminal.rows - 6); return true
        case .pageDown: model.scrollBack = max(0, model.scrollBack - max(1, terminal.rows - 6)); return true
        case .control("x"), .escape: controls.interrupt(); return true
        case .control("l"): clearConversation(); return true
        case .control("s"): save(); return true
        default: break
        }
        if model.mode == .typed {
            switch key {
            case .char(let c): model.input.insert(c)
            case .backspace: model.input.backspace()
            case .delete: model.input.delete()
            case .left: model.input.left()
            case .right: model.input.right()
            case .home, .control("a"): model.input.home()
            case .end, .control("e"): model.input.end()
            case .control("u"): model.input.killToStart()
            case .up: model.input.historyUp()
            case .down: model.input.historyDown()
            case .enter:
                if let line = model.input.submit() { model.status = nil; model.typedTurn = true; controls.submit(line) }
            default: break
            }
            return true
        }
        switch key {
        case .char("q"): return false
        case .char(" ") where model.mode == .pushToTalk:
            guard !muted else { notice("the microphone is muted: press m to open it"); return true }
            model.talking.toggle()
            controls.togglePushToTalk()
            // The cue people expect when the microphone opens and closes: the bell, and the state line.
            terminal.bell()
            notice(model.talking ? "microphone open: speak, then press Space" : "microphone closed")
        case .char(" ") where model.mode == .dictation:
            guard !muted else { notice("the microphone is muted: press m to open it"); return true }
            model.talking.toggle()
            controls.setDictating?(model.talking)
            terminal.bell()
            notice(model.talking ? "dictating: speak, then press Space to write it down" : "writing down what you said")
        case .char(" ") where model.mode == .handsFreeDictation:
            notice("hands-free dictation: just talk; a pause ends each utterance (Tab for the other modes)")
        case .char("m"):
            muted.toggle()
            model.muted = muted
            // Muting ends a dictation in progress: what was said so far is written down.
            if muted && model.mode == .dictation && model.talking { model.talking = false; controls.setDictating?(false) }
            controls.setMuted(muted)
            terminal.bell()
            model.activity = model.restingActivity
            notice(muted ? "microphone muted" : "microphone open")
        case .char("x"): controls.interrupt()
        case .char("c"): clearConversation()
        case .char("s"): save()
        case .up: model.scrollBack += 1
        case .down: model.scrollBack = max(0, model.scrollBack - 1)
        default: break
        }
        return true
    }

    private func cycleMode() {
        let order = offered
        guard order.count > 1 else { notice("no microphone: typed input only", error: true); return }
        let i = order.firstIndex(of: model.mode) ?? 0
        if model.talking {
            // Leaving a mode with the microphone open closes it the way Space would.
            if model.mode == .dictation { controls.setDictating?(false) } else { controls.togglePushToTalk() }
            model.talking = false
        }
        // Leaving hands-free dictation writes down what is being said.
        if model.mode == .handsFreeDictation { controls.setHandsFreeDictation?(false); model.partialTranscript = nil }
        model.mode = order[(i + 1) % order.count]
        controls.setHandsFree(model.mode == .handsFree)
        if model.mode == .handsFreeDictation { controls.setHandsFreeDictation?(true) }
        model.activity = model.restingActivity
        switch model.mode {
        case .dictation: notice("mode: dictation — Space starts and stops; the words are written down, not answered")
        case .handsFreeDictation: notice("mode: hands-free dictation — just talk; each pause ends an utterance, written down, not answered")
        default: notice("mode: \(model.mode.rawValue)")
        }
    }

    private func clearConversation() {
        controls.interrupt()
        controls.clear()
        model.entries.removeAll(); model.streamingReply = nil; model.scrollBack = 0; model.latency = nil
        notice("conversation cleared")
    }

    private func save() {
        let f = DateFormatter(); f.dateFormat = "yyyyMMdd-HHmmss"
        let url = saveDirectory.appendingPathComponent("confab-\(f.string(from: Date())).txt")
        do {
            try model.transcriptText.write(to: url, atomically: true, encoding: .utf8)
            notice("saved \(url.path)")
        } catch {
            notice("cannot save \(url.path): \(error.localizedDescription)", error: true)
        }
    }
}
