import AudioIO
import Foundation

/// The conversation engine: capture → (echo cancellation) → voice detection, push-to-talk or typed text
/// → Transcribing → ResponseGenerating (streamed) → SentenceChunker → SpeechSynthesizing (streamed)
/// → PlaybackSink, with barge-in, multi-turn history and a session log. Reports everything as
/// `ConversationEvent`s on `events`.
///
/// Threading:
/// - one capture thread (a `Thread`, not the cooperative pool, because `read` blocks) does all per-frame
///   work — far-end lookup, echo cancellation, recording, level, voice detection, the barge-in gate
///   (user vs residual echo) — in buffers allocated here, and acts on barge-in synchronously:
///   `PlaybackSink.stop()` is called within the frame in which speech is confirmed;
/// - speech recognition starts when speech pauses (`EnergyVAD.Parameters.pauseNotice`, 0.1 s) in a detached
///   task, so it runs during the rest of the hangover; its result is used if the pause becomes the end of
///   the turn, and redone on the whole utterance if the user went on. Recognitions never overlap (one lock);
/// - with `speculativeReply`, the pause also starts a provisional turn: the reply is generated and synthesized
///   during the hangover, but nothing of it is played, shown or remembered until the hangover confirms the end
///   of the turn. If the user goes on speaking, it is dropped without a trace (`ReplyTurn.discarded`);
/// - each turn is one Swift `Task`: transcription, then generation (this task) and synthesis (a child
///   task fed sentence by sentence) run side by side, plus a small watcher of the playback position;
/// - all shared state (history, the turn in flight, push-to-talk) sits behind one lock, taken once per
///   frame or per event, never per sample. Enqueueing reply audio and stopping playback both happen
///   under it, so no audio of a cancelled reply can slip into the queue after a barge-in.
///
/// Turn taking: a new turn (voice, push-to-talk or typed) interrupts the one in flight. An interrupted
/// reply enters the history only as far as it was heard (`ReplyTurn.spokenText`); a voice turn cut off
/// before any of its reply was heard is carried over and prefixed to the user's next words.
public final class Conversation: @unchecked Sendable {
    public let events: AsyncStream<ConversationEvent>
    let emitter: AsyncStream<ConversationEvent>.Continuation

    let config: ConversationConfiguration
    let capture: (any CaptureFrameSource)?
    let playback: any PlaybackSink
    let frameSize: Int
    let captureRate: Int
    let ttsResampler: Resampler?
    let reference: FarEndReference
    let sessionLog: SessionLog?

    // Guarded by `lock`.
    let lock = NSLock()
    let transcriptionLock = NSLock()
    var history: ConversationHistory
    var turn: ReplyTurn?                 // the turn in flight
    var turnTask: Task<Void, Never>?
    var turnCount = 0                    // turns started (including ones with nothing to answer)
    var finishedTurns = 0                // turns answered (logged)
    var carriedOver = ""                 // user text of a turn cut off before its reply was heard
    var pttRecording = false
    var pttCount = 0
    var pttReset = false
    var stopped = false
    /// The session log failed once and is no longer written; turns written to it before that.
    var sessionLogOff = false
    var loggedTurns = 0
    /// With a wake phrase: which hands-free utterances are for Confab, and the follow-up window.
    var wake: WakeGate?
    /// Samples read from the capture so far (the capture timeline the follow-up window runs on).
    var capturePosition = 0
    /// Partial transcripts on or off (the capture thread's `PartialTranscriber` runs them).
    var partialsOn: Bool

    // Capture thread only.
    let detector: any VoiceActivityDetecting
    let echoCanceller: EchoCanceller?
    var recorder: ConversationRecorder?
    let near: UnsafeMutablePointer<Float>
    let far: UnsafeMutablePointer<Float>
    let clean: UnsafeMutablePointer<Float>
    let pttBuffer: UnsafeMutablePointer<Float>
    let pttCapacity: Int
    var captureThread: Thread?
    let captureFinished = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - capture: the microphone (nil: typed input only).
    ///   - playback: the speaker.
    public init(_ configuration: ConversationConfiguration, capture: (any CaptureFrameSource)?, playback: any PlaybackSink) throws {
        config = configuration
        partialsOn = configuration.partialTranscripts
        self.capture = capture
        self.playback = playback
        (events, emitter) = AsyncStream.makeStream(of: ConversationEvent.self, bufferingPolicy: .unbounded)
        history = ConversationHistory(systemPrompt: configuration.modelSystemPrompt, budget: configuration.historyBudget,
                                      nextMessageReserve: configuration.historyBudget / 16, tokenCount: configuration.tokenCount)
        captureRate = capture?.sampleRate ?? 16000
        guard captureRate > 0, playback.sampleRate > 0 else {
            throw ConversationError("audio: bad sample rate (capture \(captureRate) Hz, playback \(playback.sampleRate) Hz)")
        }
        var vadParameters = configuration.vad
        vadParameters.sampleRate = captureRate
        let vad = EnergyVAD(vadParameters)
        detector = vad
        frameSize = vad.frameSize
        let synthRate = configuration.synthesizer.sampleRate
        ttsResampler = synthRate == playback.sampleRate ? nil : Resampler(from: max(synthRate, 1), to: playback.sampleRate)
        let referenceSeconds = 2 * configuration.maxQueuedAudio + configuration.echoTail + 2
        reference = FarEndReference(capacity: Int(referenceSeconds * Double(playback.sampleRate)), startPosition: playback.samplesPlayed)
        if capture != nil && configuration.echoCancellation {
            guard playback.sampleRate == captureRate else {
                throw ConversationError("audio: echo cancellation needs capture and playback at one rate (capture \(captureRate) Hz, playback \(playback.sampleRate) Hz)")
            }
            echoCanceller = try EchoCanceller(sampleRate: captureRate, frameSize: frameSize, tail: configuration.echoTail)
        } else {
            echoCanceller = nil
        }
        sessionLog = try configuration.sessionLogPath.map { try SessionLog(path: $0) }
        if let path = configuration.recordingPath, capture != nil {
            recorder = try ConversationRecorder(path: path, sampleRate: captureRate, frameSize: frameSize)
        }
        near = .allocate(capacity: frameSize); near.initialize(repeating: 0, count: frameSize)
        far = .allocate(capacity: frameSize); far.initialize(repeating: 0, count: frameSize)
        clean = .allocate(capacity: frameSize); clean.initialize(repeating: 0, count: frameSize)
        pttCapacity = Int(vadParameters.maxUtterance * Double(captureRate))
        pttBuffer = .allocate(capacity: max(pttCapacity, 1)); pttBuffer.initialize(repeating: 0, count: max(pttCapacity, 1))
        wake = configuration.wakePhrase.map { WakeGate(phrase: $0, window: configuration.followUpWindow, sampleRate: captureRate) }
        // The system prompt goes into the model's cache now, not in the first turn's latency.
        configuration.generator.prepare(messages)
        configuration.generator.repliesWillBeSpoken()
    }

    deinit {
        near.deallocate(); far.deallocate(); clean.deallocate(); pttBuffer.deallocate()
    }

    // MARK: Control (any thread)

    /// Starts listening (no-op without a capture source).
    public func start() {
        guard capture != nil, captureThread == nil else { return }
        emit(.state(.listening))
        if let shown = lock.withLock({ wake?.close() }) { emit(.wake(shown)) }
        let thread = Thread { [self] in captureLoop() }
        thread.name = "confab-capture"
        thread.qualityOfService = .userInteractive
        captureThread = thread
        thread.start()
    }

    /// A typed line: interrupts any reply and runs the chain from the language model on.
    public func submit(_ text: String) {
        let line = text.trimmingWhitespace
        guard !line.isEmpty else { return }
        lock.withLock {
            guard !stopped else { return }
            interruptLocked(by: .typed)
            carriedOver = ""
            startTurnLocked(.typed(line), ended: .now, hangover: nil)
        }
    }

    /// Push-to-talk toggle: the first call starts recording (and interrupts any reply), the second
    /// ends it and makes the recording a turn.
    public func togglePushToTalk() {
        lock.withLock {
            guard !stopped, capture != nil else { return }
            if !pttRecording {
                interruptLocked(by: .pushToTalk)
                pttRecording = true; pttCount = 0
                emit(.state(.hearingYou))
            } else {
                pttRecording = false; pttReset = true
                let samples = Array(UnsafeBufferPointer(start: pttBuffer, count: pttCount))
                pttCount = 0
                if samples.count >= frameSize {
                    startTurnLocked(.audio(samples, .pushToTalk, nil), ended: .now, hangover: nil)
                } else {
                    emit(.state(.listening))
                }
            }
        }
    }

    /// Stops the current reply, if any, as a barge-in would.
    public func interrupt() { lock.withLock { interruptLocked(by: .typed) } }

    /// Forgets the conversation so far (keeps the system prompt).
    public func clearHistory() {
        lock.withLock {
            history.clear(); carriedOver = ""
            if let shown = wake?.close() { emit(.wake(shown)) }
        }
        config.generator.prepare(messages)
    }

    /// Words recognized while the user is still speaking (`.partialTranscript` events): on or off at any time.
    public var partialTranscripts: Bool {
        get { lock.withLock { partialsOn } }
        set { lock.withLock { partialsOn = newValue } }
    }

    /// A turn is in flight (being recognized, answered or spoken): the CPU is not idle.
    public var hasTurnInFlight: Bool { lock.withLock { turn != nil } }

    /// The messages the model would see before a new user message.
    public var messages: [ChatMessage] { lock.withLock { history.messages } }

    /// Returns when the capture stream has ended (end of file, or `stop`) and its last utterance is handed on.
    public func waitForCaptureEnd() async {
        guard captureThread != nil else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [captureFinished] in
                captureFinished.wait(); captureFinished.signal()
                c.resume()
            }
        }
    }

    /// Returns when no turn is in progress.
    public func waitUntilIdle() async {
        while true {
            let task = lock.withLock { turnTask }
            guard let task else { return }
            await task.value
            let done = lock.withLock { turnTask == nil || turnTask == task }
            if done { lock.withLock { if turnTask == task { turnTask = nil } }; return }
        }
    }

    /// Ends the conversation: stops capture, cancels any reply, finishes `events`.
    public func stop() async {
        let wasStopped = lock.withLock { () -> Bool in
            let s = stopped; stopped = true
            if !s { interruptLocked(by: .typed) }
            return s
        }
        if wasStopped { return }
        capture?.close()
        await waitForCaptureEnd()
        await waitUntilIdle()
        recorder?.close()
        emitter.finish()
    }

    // MARK: Turns

    enum Input {
        /// Speech; with the recognition already started during the hangover, if any, and (hands-free) where the
        /// speech began on the capture timeline.
        case audio([Float], TurnInput, Task<String, Error>?, startedAt: Int? = nil)
        case typed(String)
        var kind: TurnInput { if case .audio(_, let k, _, _) = self { return k } else { return .typed } }
    }

    /// Cancels the turn in flight: stops its playback at once and cancels generation and synthesis.
    func interruptLocked(by cause: TurnInput) {
        guard let t = turn, !t.cancelled else { return }
        t.cancelled = true
        t.interruptedBy = cause
        if t.enqueuedEnd > t.firstPosition {
            playback.stop()
            let at = playback.samplesPlayed
            t.stoppedAt = at
            reference.rewind(to: at)
        }
        turnTask?.cancel()
    }

    @discardableResult
    func startTurnLocked(_ input: Input, ended: ContinuousClock.Instant, hangover: Double?,
                                 provisional: Bool = false) -> ReplyTurn {
        turnCount += 1
        let t = ReplyTurn(number: turnCount, position: reference.writtenEnd)
        t.confirmed = !provisional
        turn = t
        let previous = turnTask
        turnTask = Task { [self] in
            await previous?.value          // the interrupted turn's bookkeeping comes first
            await run(t, input, ended: ended, hangover: hangover)
        }
        return t
    }

    /// A turn's own event: held back while the turn is provisional, dropped if it was discarded.
    func emit(_ event: ConversationEvent, for t: ReplyTurn) {
        lock.withLock {
            if t.discarded { return }
            if t.confirmed { emit(event) } else { t.heldEvents.append(event) }
        }
    }

    /// Waits until a provisional turn is confirmed or dropped; true if it may go on.
    func waitForConfirmation(_ t: ReplyTurn) async -> Bool {
        while true {
            let (confirmed, cancelled) = lock.withLock { (t.confirmed, t.cancelled) }
            if cancelled { return false }
            if confirmed { return true }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    func run(_ t: ReplyTurn, _ input: Input, ended: ContinuousClock.Instant, hangover: Double?) async {
        var record = TurnRecord(turn: t.number, started: Date(), input: input.kind, transcript: "", reply: "",
                                spoken: "", interrupted: false, timings: TurnTimings(), error: nil)
        record.timings.hangover = hangover
        func since() -> Double { let d = ContinuousClock.now - ended; return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

        // 1. Speech → text.
        var text: String
        switch input {
        case .typed(let line):
            text = line
        case .audio(let samples, _, let recognized, _):
            emit(.state(.transcribing), for: t)
            do {
                if let recognized { text = try await recognized.value } else { text = try transcribeSerially(samples) }
            } catch is CancellationError {
                finishWithoutReply(t)           // a speculative recognition the user talked over
                return
            } catch {
                emit(.error("speech recognition: \(error)"), for: t)
                finishWithoutReply(t)
                return
            }
        }
        // With a wake phrase, hands-free speech is answered only when it starts with the phrase (taken off) or
        // began inside the follow-up window.
        if case .audio(_, .voice, _, let startedAt) = input, !text.isEmpty,
           let decision = lock.withLock({ wake?.decide(text, speechStartedAt: startedAt) }) {
            switch decision {
            case .phrase(let rest):
                text = rest
                if rest.isEmpty {                   // the phrase alone: the question comes next
                    if await waitForConfirmation(t) {
                        lock.withLock { if let shown = wake?.open(at: capturePosition) { emit(.wake(shown)) } }
                    }
                    finishWithoutReply(t)
                    return
                }
            case .followUp:
                break
            case .notAddressed:
                emit(.notAddressed(text), for: t)
                finishWithoutReply(t)
                return
            }
        }
        // Words of an earlier turn cut off before its reply was heard go first. They are taken (cleared) only
        // when this turn is confirmed, so a provisional turn that is dropped leaves them to the next one.
        let carried = input.kind == .typed ? "" : lock.withLock { carriedOver }
        if !carried.isEmpty && !text.isEmpty { text = carried + " " + text } else if text.isEmpty { text = carried }
        if text.isEmpty {                       // silence or noise: no turn
            finishWithoutReply(t)
            return
        }
        if Task.isCancelled {                   // the user went on speaking: this text joins the next turn
            let ending = lock.withLock { () -> Bool in
                if t.confirmed && t.interruptedBy == .voice { carriedOver = text }
                return stopped && t.confirmed && !t.discarded
            }
            // The conversation is ending (quit, a signal, the microphone gone) with these words recognized and not yet
            // answered: they are still shown and logged, as an interrupted turn with no reply.
            if ending {
                record.transcript = text
                record.timings.transcript = since()
                record.interrupted = true
                emit(.transcript(text), for: t)
                lock.withLock { finishedTurns += 1; record.turn = finishedTurns }
                logTurn(record)
                emit(.turnFinished(record))
            }
            finishWithoutReply(t)
            return
        }
        record.transcript = text
        record.timings.transcript = since()
        emit(.transcript(text), for: t)
        emit(.timing(.transcript, record.timings.transcript ?? 0), for: t)

        // 2. Text → reply, spoken sentence by sentence as it is written.
        // The model gets the words with the time when they ask about it, and today's date in the system prompt
        // (refreshed here: a conversation may outlast midnight). What is shown and logged stays the words said.
        let userText = config.clock?.prompt(text) ?? text
        let messages = lock.withLock { () -> [ChatMessage] in
            history.systemPrompt = config.modelSystemPrompt
            return history.messages(adding: userText)
        }
        emit(.state(.thinking), for: t)
        var reply = ""
        let (chunks, chunkSink) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
        var generationError: String?
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.synthesize(chunks, t)
                self.prepareNextPrompt(after: t, user: userText)
            }
            group.addTask { await self.watchPlayback(t, ended: ended) }
            var chunker = SentenceChunker(config.chunker)
            func send(_ chunk: String) {
                if record.timings.firstChunk == nil { record.timings.firstChunk = since() }
                chunkSink.yield(chunk)
            }
            do {
                for try await piece in config.generator.reply(to: messages) {
                    if Task.isCancelled { break }
                    if reply.isEmpty {
                        record.timings.firstToken = since()
                        emit(.timing(.firstToken, record.timings.firstToken ?? 0), for: t)
                    }
                    reply += piece
                    emit(.replyToken(piece), for: t)
                    for chunk in chunker.append(piece) { send(chunk) }
                }
                if !Task.isCancelled { for chunk in chunker.finish() { send(chunk) } }
            } catch {
                if !Task.isCancelled && !(error is CancellationError) { generationError = "language model: \(error)" }
            }
            record.timings.generationEnd = since()
            chunkSink.finish()
            let written = reply.trimmingWhitespace
            lock.withLock { t.writtenReply = written }
            await group.waitForAll()
        }
        if let generationError { emit(.error(generationError), for: t); record.error = generationError }

        // 3. Bookkeeping: history, log, events — only for a turn that became real. One that was still
        // provisional when it was stopped leaves no trace.
        _ = await waitForConfirmation(t)
        let real = lock.withLock { () -> Bool in
            guard t.confirmed else {
                t.discarded = true; t.heldEvents.removeAll()
                if turn === t { turn = nil }
                return false
            }
            if !carried.isEmpty && carriedOver == carried { carriedOver = "" }
            return true
        }
        guard real else { return }
        let (spoken, interrupted, cause, firstAudio) = lock.withLock { () -> (String, Bool, TurnInput?, Double?) in
            let interrupted = t.cancelled
            let spoken = interrupted ? t.spokenText(upTo: t.stoppedAt ?? playback.samplesPlayed) : reply.trimmingWhitespace
            if !spoken.isEmpty { history.append(user: userText, assistant: spoken) }
            else if interrupted && t.interruptedBy == .voice { carriedOver = text }   // unanswered: ask again with the next words
            finishedTurns += 1
            record.turn = finishedTurns          // turns that reached the model, numbered from 1
            if let shown = wake?.open(at: capturePosition) { emit(.wake(shown)) }   // the follow-up window opens now
            return (spoken, interrupted, t.interruptedBy, t.firstAudioSeconds)
        }
        if let at = lock.withLock({ t.firstSynthesizedAt }) {
            let d = at - ended
            record.timings.firstSynthesized = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
        record.reply = reply
        record.spoken = spoken
        record.interrupted = interrupted
        record.timings.firstAudio = firstAudio
        if interrupted { emit(.interrupted(spoken: spoken)) }
        logTurn(record)
        let stillCurrent = lock.withLock { () -> Bool in
            if turn === t { turn = nil; return true }
            return false
        }
        emit(.turnFinished(record))
        if stillCurrent { config.generator.prepare(self.messages) }   // the history now, with this exchange
        if stillCurrent && cause != .voice && cause != .pushToTalk { emit(.state(.listening)) }
    }

    /// Once the whole reply is synthesized (the turn confirmed, its audio queued, only playback left), the model
    /// prefills the next prompt as it will be if the reply is heard to the end. When this exchange makes the history
    /// drop old turns, that is a prefill of the whole kept history, seconds long, which must not wait for the next
    /// question (it did: 5.4-5.6 s to the first token in 2 of 70 turns). Started earlier, it took the CPU from the
    /// turn's confirmation and first audio.
    func prepareNextPrompt(after t: ReplyTurn, user: String) {
        let next = lock.withLock { () -> ConversationHistory? in
            guard !t.cancelled, t.confirmed, let written = t.writtenReply, !written.isEmpty else { return nil }
            var h = history
            h.append(user: user, assistant: written)
            return h
        }
        if let next { config.generator.prepare(next.messages) }
    }

    /// Appends a finished turn to the session log. The first failure (a full disk, a log on a device that refuses
    /// writes) is said once and turns the log off; the conversation goes on, and the turns already written stay.
    func logTurn(_ record: TurnRecord) {
        guard let sessionLog, lock.withLock({ !sessionLogOff }) else { return }
        do { try sessionLog.append(record) } catch {
            lock.withLock { sessionLogOff = true }
            let kept = lock.withLock { loggedTurns }
            emit(.error("\(error): the session log is off from here on (\(kept) turn\(kept == 1 ? "" : "s") written; the conversation goes on)"))
            return
        }
        lock.withLock { loggedTurns += 1 }
    }

    func finishWithoutReply(_ t: ReplyTurn) {
        let current = lock.withLock { () -> Bool in
            if turn === t { turn = nil; return true }
            return false
        }
        if current { emit(.state(.listening), for: t) }
    }

    func emit(_ event: ConversationEvent) { emitter.yield(event) }
}
