/// The chain of modality as capabilities: speech → transcript → reply text → speech.
/// Each stage is one protocol with one default implementation; the conversation pipeline and
/// any front end talk to the stages only through these.

// MARK: Speech recognition

public struct TranscriptSegment: Sendable, Equatable, Codable {
    public var start: Double      // seconds from the start of the audio
    public var end: Double
    public var text: String
    public init(start: Double, end: Double, text: String) { self.start = start; self.end = end; self.text = text }
}

public struct Transcript: Sendable, Equatable, Codable {
    public var text: String
    public var segments: [TranscriptSegment]
    public var language: String?
    public init(text: String, segments: [TranscriptSegment], language: String? = nil) {
        self.text = text; self.segments = segments; self.language = language
    }
    /// No speech was found (silence or noise): nothing to answer.
    public var isEmpty: Bool { text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
}

/// Turns 16 kHz mono speech into text.
public protocol Transcribing: AnyObject, Sendable {
    /// `samples`: 16 kHz mono float in [-1, 1], any length. Called from a task; when the task is cancelled (a
    /// speculative recognition the user talked over) an implementation may stop early with `CancellationError`.
    func transcribe(_ samples: [Float]) throws -> Transcript
    /// The words so far of speech still in progress, shown provisionally until the final transcript replaces them:
    /// an implementation may trade a little accuracy for speed here (by default, `transcribe`).
    func transcribeProvisional(_ samples: [Float]) throws -> Transcript
}

extension Transcribing {
    public func transcribeProvisional(_ samples: [Float]) throws -> Transcript { try transcribe(samples) }
}

// MARK: Language model

public struct ChatMessage: Sendable, Equatable, Codable {
    public enum Role: String, Sendable, Codable { case system, user, assistant }
    public var role: Role
    public var content: String
    public init(_ role: Role, _ content: String) { self.role = role; self.content = content }
}

/// Writes the assistant's reply to a conversation, streaming text pieces as they are produced.
/// The caller owns the history; an implementation keeps its key/value cache for the longest
/// token prefix it shares with the previous call, so a follow-up turn prefills only new tokens.
/// Cancelling the consuming task stops generation at the next token.
public protocol ResponseGenerating: AnyObject, Sendable {
    func reply(to messages: [ChatMessage]) -> AsyncThrowingStream<String, Error>
    /// Gets ready for a next user message after `messages` (e.g. prefills the key/value cache with the
    /// system prompt and history), in the background, so the next `reply` starts sooner. Optional.
    func prepare(_ messages: [ChatMessage])
    /// Gets ready for a user message after `messages` that begins with `userSoFar` (the words heard so far of a
    /// question still being spoken), in the background, so the reply starts sooner. Optional.
    func prepare(_ messages: [ChatMessage], userSoFar: String)
    /// The replies are spoken as they are written (a conversation says so once). An implementation that shares the
    /// CPU with speech synthesis then lets each sentence it completes reach the synthesizer before computing on.
    /// Optional.
    func repliesWillBeSpoken()
}

extension ResponseGenerating {
    public func prepare(_ messages: [ChatMessage]) {}
    public func prepare(_ messages: [ChatMessage], userSoFar: String) {}
    public func repliesWillBeSpoken() {}
}

// MARK: Speech synthesis

/// Speaks text: audio arrives in chunks, sentence by sentence, as soon as each is ready.
public protocol SpeechSynthesizing: AnyObject, Sendable {
    var sampleRate: Int { get }
    /// Mono float chunks in [-1, 1] at `sampleRate`, in order. Cancelling the consumer stops synthesis.
    func speak(_ text: String) -> AsyncThrowingStream<[Float], Error>
}

import Foundation
