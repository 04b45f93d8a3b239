import Engine

/// Everything the front end shows, as plain data. Events from the engine update it; `ScreenRenderer`
/// draws it. Keeping it free of ncurses lets tests check what a person would see.
public struct ScreenModel: Sendable {
    /// `dictated`: a line the user dictated in dictation mode (written down, never sent to the model).
    /// `provisional`: your words while you are still speaking (dimmed, "…"), replaced by the final transcript.
    public enum Speaker: Sendable, Equatable { case you, confab, system, error, dictated, provisional }
    public struct Entry: Sendable, Equatable {
        public var speaker: Speaker
        public var text: String
        public init(_ speaker: Speaker, _ text: String) { self.speaker = speaker; self.text = text }
    }
    /// `dictation`: Space opens and closes the microphone, the words are written down (never answered);
    /// `handsFreeDictation`: the same, with the voice detector ending each utterance at a pause.
    public enum Mode: String, Sendable, CaseIterable {
        case handsFree = "hands-free", pushToTalk = "push-to-talk", typed = "typed"
        case dictation = "dictation", handsFreeDictation = "hands-free dictation", playback = "playback"
        /// The microphone is listening by itself (the voice detector cuts the utterances).
        public var listensByItself: Bool { self == .handsFree || self == .handsFreeDictation }
        /// Words are written down, not answered.
        public var isDictation: Bool { self == .dictation || self == .handsFreeDictation }
    }
    public enum Activity: String, Sendable {
        case loading = "loading", listening = "listening", hearingYou = "hearing you", transcribing = "transcribing"
        case thinking = "thinking", speaking = "speaking", idle = "waiting for you", playing = "playing", muted = "microphone muted"
        public var isWorking: Bool { [.loading, .transcribing, .thinking, .speaking, .playing].contains(self) }
    }

    public var title = "confab"
    public var headerDetails = ""          // models and devices
    public var mode: Mode = .typed
    public var activity: Activity = .idle
    public var entries: [Entry] = []
    /// The reply as the model writes it (moved into `entries` when the turn ends).
    public var streamingReply: String?
    /// Words recognized so far while the user is still speaking, if the recognizer offers them (in the dictation
    /// modes: the words so far of the utterance being dictated).
    public var partialTranscript: String?
    /// With a wake phrase: waiting for it, or listening for a follow-up (nil: no wake phrase).
    public var wake: WakeState?
    /// What hands-free listening needs next, after the state ("say “hey confab”", "listening for a follow-up").
    public var wakeDetail: String? {
        guard mode == .handsFree, !muted, let wake, activity == .listening || activity == .hearingYou else { return nil }
        switch wake {
        case .waitingForPhrase(let phrase): return "say “\(phrase)”"
        case .followUp: return "listening for a follow-up"
        }
    }
    /// Timings of the turn in progress, shown as they arrive.
    public var pendingTimings = TurnTimings()
    /// The turn in progress was typed (set when a line is sent): no speech → transcript stage.
    public var typedTurn = false
    public var inputLevelDB: Float = -90
    /// What the level meter measures ("mic", or "out" while playing files); empty: no meter (no microphone).
    public var meterLabel = "mic"
    /// Shown after the state ("playing intro.wav 0:01.2 / 0:03.0", "loading the voice").
    public var activityDetail: String?
    /// Progress of the work in hand (0…1), drawn as a bar on the latency row while set.
    public var progress: Double?
    public var talking = false             // push-to-talk open
    public var muted = false               // the microphone is muted
    public var latency: String?
    public var status: String?             // last error or notice, one line
    public var statusIsError = false
    public var scrollBack = 0              // lines scrolled up from the bottom
    public var input = LineEditor()
    public var tick = 0                    // spinner phase

    public init() {}

    public mutating func add(_ speaker: Speaker, _ text: String) {
        entries.append(Entry(speaker, text))
        scrollBack = 0
    }

    /// Replaces the conversation's key help (dictation has fewer keys).
    public var help: String?

    public var helpLine: String {
        if let help { return help }
        switch mode {
        case .typed: return "Enter send · Tab mode · ^L clear · ^S save · ^X stop reply · PgUp/PgDn scroll · ^C quit"
        case .pushToTalk: return "Space talk/stop · Tab mode · m mute · x stop reply · c clear · s save · PgUp/PgDn · q quit"
        case .handsFree: return "just talk · Tab mode · m mute · x stop reply · c clear · s save · PgUp/PgDn · q quit"
        case .dictation: return "Space dictate/stop · Tab mode · m mute · c clear · s save · PgUp/PgDn · q quit"
        case .handsFreeDictation: return "just dictate (a pause ends each utterance) · Tab mode · m mute · c clear · s save · PgUp/PgDn · q quit"
        case .playback: return "q stop · PgUp/PgDn scroll"
        }
    }

    static let spinner: [Character] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

    /// The transcript as wrapped, styled lines for a pane `width` cells wide.
    public func transcriptLines(width: Int) -> [(Speaker, String)] {
        var out: [(Speaker, String)] = []
        func emit(_ sp: Speaker, _ text: String) {
            let label: String
            switch sp {
            case .you: label = "you › "; case .confab: label = "confab › "; case .system: label = "· "; case .error: label = "! "
            case .dictated: label = "dictated › "
            case .provisional: label = mode.isDictation ? "dictating ‥ " : "you ‥ "
            }
            let indent = String(repeating: " ", count: label.count)
            let lines = wrap(text, width: max(4, width - label.count))
            for (i, l) in lines.enumerated() { out.append((sp, (i == 0 ? label : indent) + l)) }
        }
        for e in entries { emit(e.speaker, e.text) }
        if let p = partialTranscript, !p.isEmpty { emit(.provisional, p + " …") }
        if let r = streamingReply { emit(.confab, r + "▍") }
        return out
    }

    /// Plain text of the conversation, for saving.
    public var transcriptText: String {
        entries.map { e in
            switch e.speaker {
            case .you: "you: \(e.text)"; case .confab: "confab: \(e.text)"; case .system: "# \(e.text)"; case .error: "! \(e.text)"
            case .dictated: "dictated: \(e.text)"
            case .provisional: "you (still speaking): \(e.text)"
            }
        }.joined(separator: "\n") + "\n"
    }
}

/// Draws a `ScreenModel`:
///   row 0        header (title, mode, models and devices)
///   rows 1…n−5   transcript, newest at the bottom, scroll-back with PgUp/PgDn
///   row n−4      state with spinner, input level meter
///   row n−3      last turn's latency
///   row n−2      status line (errors and notices) or the typed-input field
///   row n−1      key help
public struct ScreenRenderer {
    public init() {}

    public func draw(_ m: ScreenModel, on t: Terminal) {
        let rows = t.rows, cols = t.cols
        t.clearScreen()
        guard rows >= 6, cols >= 20 else {
            t.put(0, 0, "confab: window too small", .error)
            t.refresh(); return
        }
        t.put(0, 0, " \(m.title) · \(m.mode.rawValue) · \(m.headerDetails)", .header, fill: true)

        let paneTop = 1, paneHeight = rows - 5
        let lines = m.transcriptLines(width: cols - 1)
        let maxBack = max(0, lines.count - paneHeight)
        let back = min(m.scrollBack, maxBack)
        let end = lines.count - back
        let start = max(0, end - paneHeight)
        for (i, (sp, text)) in lines[start..<end].enumerated() {
            let style: Terminal.Style = sp == .you || sp == .dictated ? .you : sp == .confab ? .confab : sp == .system ? .system
                : sp == .provisional ? .dim : .error
            t.put(paneTop + i, 0, text, style)
        }
        if back > 0 { t.put(paneTop, cols - 12, " ↑ \(back) more ", .dim) }

        // State and meter.
        let spin = m.activity.isWorking ? String(ScreenModel.spinner[m.tick % ScreenModel.spinner.count]) : (m.talking ? "●" : "○")
        // In dictation the open microphone records words to write down, not a turn for the model.
        let open = m.mode == .dictation ? "dictating — press Space to stop" : "talking — press Space to stop"
        var state = "\(spin) \(m.talking ? open : m.activity.rawValue)"
        if let d = m.activityDetail, !m.talking { state += " · " + d }
        if let w = m.wakeDetail, !m.talking { state += " · " + w }
        let stateStyle: Terminal.Style = m.activity.isWorking ? .accent : (m.talking ? .error : .system)
        t.put(rows - 4, 0, state, stateStyle, bold: true)
        let meterWidth = min(30, cols / 3)
        if meterWidth >= 8 && !m.meterLabel.isEmpty {
            let col = cols - meterWidth - 6
            let filled = Int((Double(max(-60, min(0, m.inputLevelDB))) + 60) / 60 * Double(meterWidth))
            t.put(rows - 4, col, m.meterLabel + " ", .dim)
            for i in 0..<meterWidth {
                let style: Terminal.Style = i < meterWidth * 6 / 10 ? .meterLow : i < meterWidth * 85 / 100 ? .meterMid : .meterHigh
                t.put(rows - 4, col + 4 + i, i < filled ? "▮" : "·", i < filled ? style : .dim)
            }
        }
        if let p = m.progress {
            let width = max(4, min(40, cols / 2 - 8))
            let filled = Int((max(0, min(1, p)) * Double(width)).rounded())
            t.put(rows - 3, 0, String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
                  + String(format: " %3.0f%%", p * 100), .accent)
        } else if let l = m.latency {
            t.put(rows - 3, 0, "last turn: \(l)", .dim)
        }

        var cursor: (Int, Int)? = nil
        if m.mode == .typed {
            let prompt = "› "
            let (text, col) = m.input.visible(width: cols - prompt.count - 1)
            t.put(rows - 2, 0, prompt, .you)
            t.put(rows - 2, prompt.count, text)
            cursor = (rows - 2, prompt.count + col)
            if let s = m.status { t.put(rows - 3, cols / 2, DisplayWidth.prefix(s, fitting: cols - cols / 2), m.statusIsError ? .error : .system) }
        } else if let s = m.status {
            t.put(rows - 2, 0, s, m.statusIsError ? .error : .system)
        }
        t.put(rows - 1, 0, m.helpLine, .dim)
        if let (r, c) = cursor { t.moveCursor(r, c, visible: true) } else { t.moveCursor(0, 0, visible: false) }
        t.refresh()
    }
}
