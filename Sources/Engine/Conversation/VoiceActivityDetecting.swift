/// Hands-free turn taking: finds where the user starts and stops speaking in a stream of capture frames.

/// One stretch of speech, with the pre-roll before it and a little of the silence after it.
public struct VoiceUtterance: Sendable, Equatable {
    /// 16 kHz (the detector's rate) mono samples: pre-roll + speech + `trailingSilence` of the hangover.
    public var samples: [Float]
    /// Absolute sample index (since the detector started) of `samples[0]`.
    public var firstSample: Int
    /// Absolute sample index where speech was first detected (after the pre-roll).
    public var speechStart: Int
    /// Absolute sample index just after the last frame that sounded like speech.
    public var speechEnd: Int
    /// Samples of speech-like frames in the utterance (pauses inside it excluded).
    public var voicedSamples: Int
    public init(samples: [Float], firstSample: Int, speechStart: Int, speechEnd: Int, voicedSamples: Int) {
        self.samples = samples; self.firstSample = firstSample
        self.speechStart = speechStart; self.speechEnd = speechEnd; self.voicedSamples = voicedSamples
    }
}

public enum VoiceActivityEvent: Sendable, Equatable {
    /// Speech has been confirmed (enough speech-like frames); `speechStart` is the absolute sample
    /// index of its first speech-like frame. Barge-in acts on this.
    case speechStarted(speechStart: Int)
    /// Speech long enough for a turn has paused for `pauseNotice` (less than the hangover): the
    /// utterance so far, so recognition can start while the hangover runs. Speech may still resume.
    case speechPaused(VoiceUtterance)
    /// Speech came back after a `speechPaused`: the utterance handed out then was not the whole turn.
    case speechResumed
    /// The hangover of silence has passed after speech that was long enough: a turn.
    case speechEnded(VoiceUtterance)
    /// Speech was confirmed but, by the end, too short to be a turn (a click, a word fragment).
    case speechDiscarded
}

/// A voice activity detector over fixed-size mono frames.
/// `process` is called once per frame from the capture thread and must not allocate except to hand
/// out a finished utterance.
public protocol VoiceActivityDetecting: AnyObject {
    var sampleRate: Int { get }
    /// Samples per frame `process` expects.
    var frameSize: Int { get }
    /// Inside a confirmed stretch of speech (between `speechStarted` and `speechEnded`/`speechDiscarded`).
    var inSpeech: Bool { get }
    /// Feeds one frame of `frameSize` samples.
    func process(_ frame: UnsafeBufferPointer<Float>) -> VoiceActivityEvent?
    /// Ends the stream: a confirmed utterance in progress is handed out as if the hangover had passed.
    func finish() -> VoiceActivityEvent?
    /// Forgets any speech in progress (keeps the learned noise floor).
    func reset()
    /// Inside speech: the utterance so far (pre-roll and speech), for a provisional transcript; nil otherwise.
    /// Allocates (the copy), so it is for the capture thread, never an audio thread.
    func speechSoFar() -> [Float]?
}

extension VoiceActivityDetecting {
    public func speechSoFar() -> [Float]? { nil }
}
