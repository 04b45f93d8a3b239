/// Everything a conversation is made of: the three model stages and the knobs of turn taking,
/// streaming, barge-in, memory and logging. One value, so a front end or a test builds it once.
public struct ConversationConfiguration: Sendable {
    public var transcriber: any Transcribing
    public var generator: any ResponseGenerating
    public var synthesizer: any SpeechSynthesizing

    public var systemPrompt = defaultSpokenSystemPrompt
    /// Today's date for the system prompt, and the time for questions about it; nil tells the model neither.
    public var clock: AssistantClock? = AssistantClock()
    /// The system prompt as the model gets it: with today's date when there is a clock.
    var modelSystemPrompt: String { clock?.systemPrompt(systemPrompt) ?? systemPrompt }
    /// Tokens of system prompt + history + the new message; oldest exchanges are dropped past it.
    public var historyBudget = 1536
    /// Token counter for the budget (give it the model's tokenizer; the default estimates).
    public var tokenCount: @Sendable (String) -> Int = ConversationHistory.estimatedTokens

    /// Hands-free turn taking with the voice activity detector. When false, only push-to-talk and
    /// typed lines make turns.
    public var handsFree = true
    /// Hands-free, only an utterance that starts with this phrase gets a reply, and the phrase is taken off the
    /// question (nil: every utterance is a turn). Push-to-talk and typed turns never need it.
    public var wakePhrase: WakePhrase?
    /// With `wakePhrase`: seconds after a reply (or after the phrase said alone) during which an utterance
    /// that begins needs no phrase. Measured on the capture timeline.
    public var followUpWindow = Self.defaultFollowUpWindow
    public static let defaultFollowUpWindow = 8.0
    public var vad = EnergyVAD.Parameters()
    /// Start speech recognition when speech pauses (`vad.pauseNotice`), while the hangover runs, and use
    /// that result if the user does not go on: the recognition time leaves the turn's latency.
    public var earlyTranscription = true
    /// With `earlyTranscription`: also start the reply at the pause — generation and synthesis run during the
    /// hangover, held back (not played, shown or remembered) until the hangover confirms the turn, and dropped
    /// if the user goes on. Costs idle CPU only; saves the model's and the voice's time to first audio.
    public var speculativeReply = true
    /// While the user speaks (hands-free or push-to-talk), the words so far as `.partialTranscript` events: the
    /// growing utterance is recognized again every `partialInterval` seconds of audio, only while no turn is in
    /// flight (never during a reply's recognition, generation or synthesis) and never two at once; the one
    /// running is cancelled the moment speech pauses or ends. Can be switched at run time
    /// (`Conversation.partialTranscripts`).
    public var partialTranscripts = true
    public var partialInterval = 0.5
    public var chunker = SentenceChunker.Parameters()

    /// User speech during a reply stops it (`--no-barge-in` sets false: the microphone is then ignored
    /// while a reply plays and for `echoGuard` after it, for setups without echo cancellation).
    public var bargeIn = true
    /// While reply audio plays, speech interrupts only if the cleaned capture is this many dB above the
    /// measured echo leak (see `BargeInGate`).
    public var bargeInMarginDB: Float = 6
    public var echoGuard = 0.3
    /// Cancel the reply's echo in the capture with speexdsp (needs capture and playback at one rate).
    public var echoCancellation = true
    /// Longest echo path the canceller covers, seconds.
    public var echoTail = 0.3
    /// File mode (headless): capture is not read while a turn is in progress, so a file holding several
    /// questions is answered one by one instead of interrupting itself.
    public var pauseCaptureDuringReply = false

    /// Synthesis runs at most this many seconds ahead of playback (bounded memory, cheap cancellation).
    public var maxQueuedAudio = 20.0
    /// Seconds between `.audioLevel` events.
    public var levelInterval = 0.1

    /// JSON Lines session log (one record per turn), if any.
    public var sessionLogPath: String?
    /// Stereo WAV of microphone (left) and reply audio (right), if any.
    public var recordingPath: String?

    public init(transcriber: any Transcribing, generator: any ResponseGenerating, synthesizer: any SpeechSynthesizing) {
        self.transcriber = transcriber; self.generator = generator; self.synthesizer = synthesizer
    }
}
