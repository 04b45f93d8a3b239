import Engine
import Foundation

extension ScreenModel {
    /// Folds one engine event into what the screen shows.
    public mutating func apply(_ event: ConversationEvent) {
        switch event {
        case .state(let s):
            switch s {
            case .listening:
                activity = restingActivity
                // The speech made no turn (noise, or nothing recognized). In the dictation modes the words so far are
                // dictation's, which the conversation (hearing silence) knows nothing of.
                if !mode.isDictation { partialTranscript = nil }
            case .hearingYou: activity = .hearingYou
            case .transcribing: activity = .transcribing
            case .thinking: activity = .thinking
            case .speaking: activity = .speaking
            }
        case .partialTranscript(let t):
            partialTranscript = t
        case .notAddressed(let t):
            partialTranscript = nil
            if case .waitingForPhrase(let phrase) = wake {
                status = "not for me (it did not start with “\(phrase)”): \(t)"; statusIsError = false
            }
        case .wake(let w):
            wake = w
        case .transcript(let t):
            partialTranscript = nil
            add(.you, t)
            streamingReply = ""
            pendingTimings = TurnTimings()
        case .replyToken(let t):
            streamingReply = (streamingReply ?? "") + t
            scrollBack = 0
        case .replySentenceStarted:
            break
        case .audioLevel(let db):
            inputLevelDB = db
        case .timing(let stage, let seconds):
            switch stage {
            case .transcript: pendingTimings.transcript = typedTurn ? nil : seconds
            case .firstToken: pendingTimings.firstToken = seconds
            case .firstAudio: pendingTimings.firstAudio = seconds
            }
            latency = ScreenModel.describe(pendingTimings, typed: typedTurn)
        case .interrupted:
            status = "reply interrupted"; statusIsError = false
        case .turnFinished(let record):
            let text = record.interrupted ? record.spoken + " …" : record.reply
            if !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { add(.confab, text) }
            streamingReply = nil
            var timings = record.timings
            if record.input == .typed { timings.transcript = nil }
            latency = ScreenModel.describe(timings, typed: record.input == .typed)
            typedTurn = false
            if let e = record.error { addError(e) }
            activity = restingActivity
        case .error(let message):
            // A problem (a device that stopped working, a log that cannot be written) stays in the conversation as a
            // line of its own, and is the status until something else is.
            addError(message)
            status = message; statusIsError = true
        }
    }

    /// An error line, unless the same one was just shown (a turn's error comes as an event and with the turn).
    mutating func addError(_ message: String) {
        if entries.suffix(4).contains(where: { $0.speaker == .error && $0.text == message }) { return }
        add(.error, message)
    }

    /// What the state line shows when nothing is in progress: only hands-free (and hands-free dictation) is listening
    /// by itself; push-to-talk, dictation with Space and typed input wait for the user.
    public var restingActivity: Activity {
        if muted && mode != .typed { return .muted }
        return mode.listensByItself ? .listening : .idle
    }

    /// "speech→text 0.21 s · →first token 0.38 s · →first audio 0.62 s"
    /// A typed line has no speech to recognize: its latency runs from Enter.
    public static func describe(_ t: TurnTimings, typed: Bool = false) -> String {
        var parts: [String] = []
        if let v = t.transcript { parts.append(String(format: "→ transcript %.2f s", v)) }
        if let v = t.firstToken { parts.append(String(format: "→ first token %.2f s", v)) }
        if let v = t.firstAudio { parts.append(String(format: "→ first audio %.2f s", v)) }
        return parts.isEmpty ? "" : (typed ? "Enter " : "end of speech ") + parts.joined(separator: " · ")
    }
}
