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
    private let emitter: AsyncStream<ConversationEvent>.Continuation

    private let config: ConversationConfiguration
    private let capture: (any CaptureFrameSource)?
    private let playback: any PlaybackSink
    private let frameSize: Int
    private let captureRate: Int
    private let ttsResampler: Resampler?
    private let reference: FarEndReference
    private let sessionLog: SessionLog?

    // Guarded by `lock`.
    private let lock = NSLock()
    private let transcriptionLock = NSLock()
    private var history: ConversationHistory
    private var turn: ReplyTurn?                 // the turn in flight
    private var turnTask: Task<Void, Never>?
    private var turnCount = 0                    // turns started (including ones with nothing to answer)
    private var finishedTurns = 0                // turns answered (logged)
    private var carriedOver = ""                 // user text of a turn cut off before its reply was heard
    private var pttRecording = false
    private var pttCount = 0
    private var pttReset = false
    private var stopped = false

    // Capture thread only.
    private let detector: any VoiceActivityDetecting
    private let echoCanceller: EchoCanceller?
    private var recorder: ConversationRecorder?
    private let near: UnsafeMutablePointer<Float>
    private let far: UnsafeMutablePointer<Float>
    private let clean: UnsafeMutablePointer<Float>
    private let pttBuffer: UnsafeMutablePointer<Float>
    private let pttCapacity: Int
    private var captureThread: Thread?
    private let captureFinished = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - capture: the microphone (nil: typed input only).
    ///   - playback: the speaker.
    public init(_ configuration: ConversationConfiguration, capture: (any CaptureFrameSource)?, playback: any PlaybackSink) throws {
        config = configuration
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
        lock.withLock { history.clear(); carriedOver = "" }
        config.generator.prepare(messages)
    }

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

    // MARK: Capture thread

    private func captureLoop() {
        defer { captureFinished.signal() }
        guard let capture else { return }
        let levelEvery = max(1, Int(config.levelInterval * Double(captureRate) / Double(frameSize)))
        let guardFrames = Int(config.echoGuard * Double(captureRate) / Double(frameSize))
        var lastPlayed = playback.samplesPlayed
        var frameIndex = 0
        var ignoreFrames = 0
        var replyWasActive = false
        let frameSeconds = Double(frameSize) / Double(captureRate)
        var gate = BargeInGate(tailFrames: Int((config.echoTail / frameSeconds).rounded(.up)) + 1,
                               windowFrames: max(1, Int((config.vad.startConfirmation / frameSeconds).rounded())),
                               marginDB: config.bargeInMarginDB)
        var echoSuspect = false      // the speech in progress began while only the reply's echo was loud enough
        // Recognition (and, speculatively, the reply) started during the hangover.
        var early: (speechEnd: Int, task: Task<String, Error>, turn: ReplyTurn?)?
        var samplesRead = 0
        // When each of the last frames was read (a ring, allocated once): a file is read faster than real time,
        // so the end of speech is when its frame came in, not "now minus the audio since".
        let readTimes = 1024
        var readAt = [ContinuousClock.Instant](repeating: .now, count: readTimes)
        /// When the frame holding the sample just before absolute index `index` was read: the end of speech
        /// in wall-clock time.
        func instant(ofSample index: Int) -> ContinuousClock.Instant {
            let frame = max(0, index - 1) / frameSize, framesRead = samplesRead / frameSize
            if frame < framesRead && framesRead - frame <= readTimes { return readAt[frame % readTimes] }
            return .now - .seconds(Double(max(0, samplesRead - index)) / Double(captureRate))
        }
        func dropEarly() {
            if let t = early?.turn { lock.withLock { discardLocked(t) } }
            early?.task.cancel()                 // the recognizer stops at its next layer or step
            early = nil
        }

        while true {
            if config.pauseCaptureDuringReply {
                while lock.withLock({ turn.map { $0.confirmed } ?? false && !stopped }) { usleep(2000) }
            }
            let n = capture.read(into: near, count: frameSize)
            if n <= 0 { break }
            readAt[(samplesRead / frameSize) % readTimes] = .now
            samplesRead += frameSize
            if n < frameSize { (near + n).update(repeating: 0, count: frameSize - n) }

            // Far end: what the device played during this frame.
            let played = playback.samplesPlayed
            reference.frame(from: lastPlayed, to: played, into: far, count: frameSize)
            lastPlayed = played
            if let echoCanceller {
                echoCanceller.process(near: near, far: far, out: clean)
            } else {
                clean.update(from: near, count: frameSize)
            }
            if let recorder {
                do { try recorder.write(mic: near, speaker: far) } catch {
                    emit(.error("recording: \(error)")); self.recorder = nil
                }
            }
            frameIndex += 1
            let cleanEnergy = Self.meanSquare(clean, frameSize)
            gate.update(clean: cleanEnergy, far: Self.meanSquare(far, frameSize))
            if frameIndex % levelEvery == 0 { emit(.audioLevel(10 * log10f(max(cleanEnergy, 1e-12)))) }

            // Push-to-talk records every frame; the detector rests meanwhile.
            let (ptt, replyActive, resetDetector) = lock.withLock { () -> (Bool, Bool, Bool) in
                if pttRecording {
                    let k = min(frameSize, pttCapacity - pttCount)
                    if k > 0 { (pttBuffer + pttCount).update(from: clean, count: k); pttCount += k }
                }
                let r = pttReset; pttReset = false
                return (pttRecording, turn.map { !$0.cancelled && $0.confirmed } ?? false, r)
            }
            if resetDetector { detector.reset(); dropEarly() }
            if ptt || !config.handsFree { continue }

            if !config.bargeIn {
                // Half duplex: ignore the microphone while a reply runs and for a moment after (its echo).
                if replyActive { replyWasActive = true; detector.reset(); dropEarly(); continue }
                if replyWasActive { replyWasActive = false; ignoreFrames = guardFrames }
                if ignoreFrames > 0 { ignoreFrames -= 1; continue }
            }

            if echoSuspect && !gate.farActive {
                // The reply and its echo are over; forget the echo-only "speech". If the user is talking,
                // the detector finds it again at once (its pre-roll still holds the start).
                echoSuspect = false
                detector.reset(); dropEarly()
            }
            let event = detector.process(UnsafeBufferPointer(start: clean, count: frameSize))
            if echoSuspect && detector.inSpeech && gate.userAboveEcho {
                // The user is now clearly louder than the echo: a barge-in after all.
                echoSuspect = false
                emit(.state(.hearingYou))
                if replyActive { lock.withLock { interruptLocked(by: .voice) } }
            }
            guard let event else { continue }
            switch event {
            case .speechStarted:
                if gate.userAboveEcho {
                    emit(.state(.hearingYou))
                    if replyActive { lock.withLock { interruptLocked(by: .voice) } }
                } else {
                    echoSuspect = true
                }
            case .speechPaused(let utterance):
                // Start recognition now, while the hangover runs; used if the user does not go on.
                if !echoSuspect && config.earlyTranscription {
                    let samples = utterance.samples
                    let task = Task.detached(priority: .userInitiated) { [self] () throws -> String in
                        let text = try transcribeSerially(samples)
                        if !text.isEmpty { emit(.partialTranscript(text)) }
                        return text
                    }
                    dropEarly()
                    let speculative = config.speculativeReply
                        ? provisionalTurn(utterance, recognized: task, speechEnd: instant(ofSample: utterance.speechEnd)) : nil
                    early = (utterance.speechEnd, task, speculative)
                }
            case .speechResumed:
                dropEarly()
            case .speechEnded(let utterance):
                if echoSuspect { echoSuspect = false; dropEarly() }
                else { takeTurn(utterance, early: early, speechEnd: instant(ofSample: utterance.speechEnd)) }
                early = nil
            case .speechDiscarded:
                echoSuspect = false; dropEarly()
                if !replyActive { emit(.state(.listening)) }
            }
        }
        if let event = detector.finish(), case .speechEnded(let utterance) = event, !echoSuspect {
            takeTurn(utterance, early: early, speechEnd: instant(ofSample: utterance.speechEnd))
        } else {
            dropEarly()
        }
    }

    /// The end of a spoken turn: confirms the provisional turn started at the pause, if it is for this very
    /// utterance and still alive, or starts the turn (reusing the early recognition when it matches).
    private func takeTurn(_ utterance: VoiceUtterance, early: (speechEnd: Int, task: Task<String, Error>, turn: ReplyTurn?)?,
                          speechEnd: ContinuousClock.Instant) {
        let matching = early.flatMap { $0.speechEnd == utterance.speechEnd ? $0 : nil }
        lock.withLock {
            guard !stopped else { return }
            if let t = matching?.turn, turn === t, !t.cancelled {
                confirmLocked(t)
                return
            }
            if let t = early?.turn { discardLocked(t) }
            interruptLocked(by: .voice)
            startTurnLocked(.audio(utterance.samples, .voice, matching?.task), ended: speechEnd, hangover: config.vad.hangover)
        }
    }

    /// At a pause in speech: the turn this pause would make, started now but held back until confirmed.
    private func provisionalTurn(_ utterance: VoiceUtterance, recognized: Task<String, Error>,
                                 speechEnd: ContinuousClock.Instant) -> ReplyTurn? {
        lock.withLock {
            guard !stopped else { return nil }
            interruptLocked(by: .voice)
            return startTurnLocked(.audio(utterance.samples, .voice, recognized), ended: speechEnd,
                                   hangover: config.vad.hangover, provisional: true)
        }
    }

    /// The hangover passed: the provisional turn is the user's turn. Its held-back events go out now, and
    /// its audio may be queued.
    private func confirmLocked(_ t: ReplyTurn) {
        t.confirmed = true
        for e in t.heldEvents { emit(e) }
        t.heldEvents.removeAll()
    }

    /// The user went on speaking (or the speech was echo): the provisional turn vanishes, unheard and unseen.
    private func discardLocked(_ t: ReplyTurn) {
        guard !t.confirmed else { return }
        t.discarded = true
        t.heldEvents.removeAll()
        if !t.cancelled { t.cancelled = true; t.interruptedBy = .voice }
        if turn === t { turnTask?.cancel() }
    }

    /// One recognition at a time: a speech recognizer keeps one set of run buffers.
    private func transcribeSerially(_ samples: [Float]) throws -> String {
        let speech = captureRate == 16000 ? samples : Resampler.resample(samples, from: captureRate, to: 16000)
        return try transcriptionLock.withLock { try config.transcriber.transcribe(speech).text.trimmingWhitespace }
    }

    static func meanSquare(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var s: Float = 0
        for i in 0..<n { s += x[i] * x[i] }
        return s / Float(max(n, 1))
    }

    // MARK: Turns

    private enum Input {
        /// Speech; with the recognition already started during the hangover, if any.
        case audio([Float], TurnInput, Task<String, Error>?)
        case typed(String)
        var kind: TurnInput { if case .audio(_, let k, _) = self { return k } else { return .typed } }
    }

    /// Cancels the turn in flight: stops its playback at once and cancels generation and synthesis.
    private func interruptLocked(by cause: TurnInput) {
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
    private func startTurnLocked(_ input: Input, ended: ContinuousClock.Instant, hangover: Double?,
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
    private func emit(_ event: ConversationEvent, for t: ReplyTurn) {
        lock.withLock {
            if t.discarded { return }
            if t.confirmed { emit(event) } else { t.heldEvents.append(event) }
        }
    }

    /// Waits until a provisional turn is confirmed or dropped; true if it may go on.
    private func waitForConfirmation(_ t: ReplyTurn) async -> Bool {
        while true {
            let (confirmed, cancelled) = lock.withLock { (t.confirmed, t.cancelled) }
            if cancelled { return false }
            if confirmed { return true }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    private func run(_ t: ReplyTurn, _ input: Input, ended: ContinuousClock.Instant, hangover: Double?) async {
        var record = TurnRecord(turn: t.number, started: Date(), input: input.kind, transcript: "", reply: "",
                                spoken: "", interrupted: false, timings: TurnTimings(), error: nil)
        record.timings.hangover = hangover
        func since() -> Double { let d = ContinuousClock.now - ended; return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

        // 1. Speech → text.
        var text: String
        switch input {
        case .typed(let line):
            text = line
        case .audio(let samples, _, let recognized):
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
        // Words of an earlier turn cut off before its reply was heard go first. They are taken (cleared) only
        // when this turn is confirmed, so a provisional turn that is dropped leaves them to the next one.
        let carried = input.kind == .typed ? "" : lock.withLock { carriedOver }
        if !carried.isEmpty && !text.isEmpty { text = carried + " " + text } else if text.isEmpty { text = carried }
        if text.isEmpty {                       // silence or noise: no turn
            finishWithoutReply(t)
            return
        }
        if Task.isCancelled {                   // the user went on speaking: this text joins the next turn
            lock.withLock {
                if t.confirmed && t.interruptedBy == .voice { carriedOver = text }
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
        if let sessionLog {
            do { try sessionLog.append(record) } catch { emit(.error("\(error)")) }
        }
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
    private func prepareNextPrompt(after t: ReplyTurn, user: String) {
        let next = lock.withLock { () -> ConversationHistory? in
            guard !t.cancelled, t.confirmed, let written = t.writtenReply, !written.isEmpty else { return nil }
            var h = history
            h.append(user: user, assistant: written)
            return h
        }
        if let next { config.generator.prepare(next.messages) }
    }

    private func finishWithoutReply(_ t: ReplyTurn) {
        let current = lock.withLock { () -> Bool in
            if turn === t { turn = nil; return true }
            return false
        }
        if current { emit(.state(.listening), for: t) }
    }

    /// Synthesizes each chunk as it arrives and queues its audio for playback, at most
    /// `maxQueuedAudio` ahead of the device.
    private func synthesize(_ chunks: AsyncStream<String>, _ t: ReplyTurn) async {
        var speakable = ReplySpeechFilter()
        var index = 0
        var synthesized = false              // the reply's first audio is out of synthesis (stamped once)
        // Never more queued than the device's ring holds: enqueue runs under the conversation's lock, and one that
        // waited for the device (a 2-second ring, 20 s allowed ahead) held up the microphone and barge-in with it.
        let maxAhead = min(Int(config.maxQueuedAudio * Double(playback.sampleRate)), playback.queueCapacity)
        let piece = max(1, min(maxAhead / 2, 1 << 20))      // audio goes in pieces that fit
        for await chunk in chunks {
            if Task.isCancelled || lock.withLock({ t.cancelled }) { break }
            let say = SpeakableText.endingAsClause(speakable.speakable(chunk))
            let sentence = lock.withLock { () -> Int in
                t.sentences.append(ReplyTurn.Sentence(text: chunk, start: t.enqueuedEnd, end: t.enqueuedEnd))
                return t.sentences.count - 1
            }
            if say.isEmpty { continue }
            emit(.replySentenceStarted(index: index, text: chunk), for: t)
            index += 1
            do {
                for try await audio in config.synthesizer.speak(say) {
                    let samples = ttsResampler?.process(audio) ?? audio
                    if !synthesized { synthesized = true; lock.withLock { t.firstSynthesizedAt = .now } }
                    // A provisional turn's audio waits for the end of the turn (or is dropped with it).
                    if !(await waitForConfirmation(t)) { break }
                    var offset = 0, queued = true
                    while queued && offset < samples.count {
                        let n = min(piece, samples.count - offset)
                        while !Task.isCancelled, lock.withLock({ !t.cancelled && t.enqueuedEnd + n - playback.samplesPlayed > maxAhead }) {
                            try? await Task.sleep(for: .milliseconds(20))
                        }
                        queued = lock.withLock { () -> Bool in
                            guard !t.cancelled else { return false }
                            samples.withUnsafeBufferPointer { all in
                                let buf = UnsafeBufferPointer(rebasing: all[offset..<(offset + n)])
                                let start = reference.append(buf)
                                playback.enqueue(buf)
                                if t.firstAudioPosition == nil, let k = buf.firstIndex(where: { abs($0) > 1e-3 }) {
                                    t.firstAudioPosition = start + k
                                }
                                t.enqueuedEnd = start + buf.count
                                t.sentences[sentence].end = t.enqueuedEnd
                            }
                            return true
                        }
                        offset += n
                    }
                    if !queued || Task.isCancelled { break }
                }
            } catch {
                if !Task.isCancelled && !(error is CancellationError) { emit(.error("speech synthesis: \(error)"), for: t) }
            }
        }
        lock.withLock {
            t.synthesisDone = true
            if !t.cancelled && t.enqueuedEnd > t.firstPosition { playback.endOfReply() }
        }
    }

    /// Follows the playback position: stamps the first audible sample, reports `.speaking`, and
    /// returns when the whole reply has been played (or the turn was cancelled).
    private func watchPlayback(_ t: ReplyTurn, ended: ContinuousClock.Instant) async {
        var speaking = false
        while true {
            let (done, started) = lock.withLock { () -> (Bool, Bool) in
                if t.cancelled { return (true, false) }
                let played = playback.samplesPlayed
                var started = false
                if t.firstAudioSeconds == nil, let first = t.firstAudioPosition, played > first {
                    let d = ContinuousClock.now - ended
                    t.firstAudioSeconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
                    started = true
                }
                return (t.synthesisDone && played >= t.enqueuedEnd, started)
            }
            if started && !speaking {
                speaking = true
                emit(.state(.speaking), for: t)
                if let s = lock.withLock({ t.firstAudioSeconds }) { emit(.timing(.firstAudio, s), for: t) }
            }
            if done { return }
            // Cancellation ends the sleep early; the next pass sees `t.cancelled`.
            try? await Task.sleep(for: .milliseconds(speaking ? 20 : 5))
        }
    }

    private func emit(_ event: ConversationEvent) { emitter.yield(event) }
}

/// One turn's reply as it is queued and played, guarded by the conversation's lock.
final class ReplyTurn: @unchecked Sendable {
    struct Sentence { var text: String; var start: Int; var end: Int }   // playback positions [start, end)
    let number: Int
    let firstPosition: Int
    var cancelled = false
    var interruptedBy: TurnInput?
    var stoppedAt: Int?
    var sentences: [Sentence] = []
    var enqueuedEnd: Int
    var firstAudioPosition: Int?
    /// The whole reply as the model wrote it (set when generation ends).
    var writtenReply: String?
    /// When the first audio of the reply came out of speech synthesis.
    var firstSynthesizedAt: ContinuousClock.Instant?
    var firstAudioSeconds: Double?
    var synthesisDone = false
    /// False while the turn is provisional (started at a pause in speech, before the hangover ended):
    /// nothing of it is played or shown, and its events wait in `heldEvents`.
    var confirmed = true
    /// A provisional turn dropped because the user went on: it reports nothing and enters no history.
    var discarded = false
    var heldEvents: [ConversationEvent] = []

    init(number: Int, position: Int) { self.number = number; firstPosition = position; enqueuedEnd = position }

    /// The reply text heard up to playback position `played`: whole sentences played, and the share of
    /// the words of the sentence playing when it stopped (cut with a dash).
    func spokenText(upTo played: Int) -> String {
        var parts: [String] = []
        for s in sentences {
            if s.end <= played && (s.end > s.start || s.start < played) { parts.append(s.text); continue }
            if s.start < played && played < s.end {
                let words = s.text.split(whereSeparator: \.isWhitespace)
                let share = Double(played - s.start) / Double(s.end - s.start)
                let n = Int((share * Double(words.count)).rounded(.down))
                if n > 0 { parts.append(words[0..<n].joined(separator: " ") + "—") }
            }
            break
        }
        return parts.joined(separator: " ")
    }
}
