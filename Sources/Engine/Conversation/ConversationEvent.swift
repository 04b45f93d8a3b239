import Foundation

/// What the conversation is doing, for the front end's state line.
public enum ConversationState: String, Sendable, Codable {
    case listening      // waiting for the user (hands-free: the detector is armed)
    case hearingYou     // speech detected / push-to-talk recording
    case transcribing   // speech recognition of the finished utterance
    case thinking       // the language model is working, nothing audible yet
    case speaking       // the reply is playing
}

/// Where a turn's latency goes. All are measured from the end of the user's speech: when the last
/// speech-like frame was captured (hands-free; the hangover that confirms the turn is inside these
/// figures), the push-to-talk toggle, or the typed line's submission. Recognition and the reply may start
/// during the hangover (`earlyTranscription`, `speculativeReply`), so a figure can be below `hangover`,
/// except `firstAudio`, which waits for the turn to be confirmed.
public struct TurnTimings: Sendable, Codable, Equatable {
    /// The silence the detector waits after the last speech frame before taking the turn (hands-free only).
    public var hangover: Double?
    /// End of speech → final transcript.
    public var transcript: Double?
    /// End of speech → first reply token.
    public var firstToken: Double?
    /// End of speech → the reply's first chunk (sentence or clause) handed to speech synthesis.
    public var firstChunk: Double?
    /// End of speech → the first audio of that chunk out of speech synthesis (before it waits for the turn
    /// to be confirmed and for the device).
    public var firstSynthesized: Double?
    /// End of speech → first non-silent reply sample handed to the playback device.
    public var firstAudio: Double?
    /// End of speech → last reply token.
    public var generationEnd: Double?
    public init() {}
}

/// With a wake phrase (`ConversationConfiguration.wakePhrase`): what a hands-free utterance needs to be answered.
public enum WakeState: Sendable, Equatable {
    /// Only an utterance that starts with the phrase (given here as configured) gets a reply.
    case waitingForPhrase(String)
    /// After a reply: the next question needs no phrase until the follow-up window has passed.
    case followUp
}

public enum TurnInput: String, Sendable, Codable { case voice, pushToTalk, typed }

/// One finished turn, as logged in the session log and reported to the front end.
public struct TurnRecord: Sendable, Codable, Equatable {
    public var turn: Int
    public var started: Date
    public var input: TurnInput
    public var transcript: String
    /// Everything the model wrote.
    public var reply: String
    /// The part of the reply that was heard (equals `reply` unless interrupted); this enters the history.
    public var spoken: String
    public var interrupted: Bool
    public var timings: TurnTimings
    public var error: String?
}

/// Per-stage latency as soon as it is known.
public enum TurnStage: String, Sendable, Codable { case transcript, firstToken, firstAudio }

/// Everything the conversation reports, in order, to the front end and to tests alike.
public enum ConversationEvent: Sendable, Equatable {
    case state(ConversationState)
    /// A provisional transcript of speech still in progress (from transcribers that offer one).
    case partialTranscript(String)
    /// The user's turn as text (recognized or typed).
    case transcript(String)
    /// Hands-free speech that was not for Confab (no wake phrase, outside the follow-up window): no reply.
    case notAddressed(String)
    /// With a wake phrase: what the next hands-free utterance needs (sent when it changes).
    case wake(WakeState)
    /// A piece of the reply as the model writes it (display text, markup included).
    case replyToken(String)
    /// Synthesis of the `index`-th speakable chunk of the reply begins.
    case replySentenceStarted(index: Int, text: String)
    /// Capture level of the microphone (after echo cancellation), dBFS RMS, a few times a second.
    case audioLevel(Float)
    /// Seconds from the end of the user's turn to `stage`.
    case timing(TurnStage, Double)
    /// The reply was cut short by the user (speech, push-to-talk or typing) after `spoken` was heard.
    case interrupted(spoken: String)
    case turnFinished(TurnRecord)
    /// A problem that did not stop the conversation (one line, naming what failed).
    case error(String)
}

/// A one-line error from the conversation engine.
public struct ConversationError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
