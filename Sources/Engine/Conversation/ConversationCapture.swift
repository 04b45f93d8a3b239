import AudioIO
import Foundation

/// The conversation's capture thread: per-frame echo cancellation, level, push-to-talk recording, voice detection
/// and barge-in, recognition at pauses, partial transcripts, and handing finished utterances on as turns.
extension Conversation {
    // MARK: Capture thread

    func captureLoop() {
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
        var earlyShown = false       // the early recognition is also the partial transcriber's (see `adopt`)
        var samplesRead = 0
        // Where the speech in progress began on the capture timeline (it is confirmed `startConfirmation` later).
        let confirmationSamples = Int(config.vad.startConfirmation * Double(captureRate))
        var speechStartedAt: Int?
        // Partial transcripts: the words so far, recognized again every `partialInterval` of audio.
        let partials = PartialTranscriber(
            sampleRate: captureRate, interval: config.partialInterval, frameSize: frameSize,
            recognize: { [self] in try transcribeSerially($0, provisional: true) },
            publish: { [self] in emit(.partialTranscript($0)) },
            published: { [self] in prefillHeard($0) })
        let partialShortest = partials.shortest
        var wasPushToTalk = false
        func stopPartial() { partials.stop(); earlyShown = false }
        func startPartial(_ samples: [Float]) { partials.start(samples, at: samplesRead) }
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
                    emit(.error("recording: \(error): the recording stops here (what was recorded is kept; the conversation goes on)")); self.recorder = nil
                }
            }
            frameIndex += 1
            let cleanEnergy = Self.meanSquare(clean, frameSize)
            gate.update(clean: cleanEnergy, far: Self.meanSquare(far, frameSize))
            if frameIndex % levelEvery == 0 { emit(.audioLevel(10 * log10f(max(cleanEnergy, 1e-12)))) }

            // Push-to-talk records every frame; the detector rests meanwhile.
            let inSpeech = detector.inSpeech
            let partialDue = partials.isDue(at: samplesRead)
            let (ptt, replyActive, resetDetector, partialIdle, pttSoFar) = lock.withLock { () -> (Bool, Bool, Bool, Bool, [Float]?) in
                capturePosition = samplesRead
                if let shown = wake?.tick(position: samplesRead, idle: turn == nil && !inSpeech) { emit(.wake(shown)) }
                if pttRecording {
                    let k = min(frameSize, pttCapacity - pttCount)
                    if k > 0 { (pttBuffer + pttCount).update(from: clean, count: k); pttCount += k }
                }
                let r = pttReset; pttReset = false
                // Partial transcripts only in idle time: no turn in flight, none running.
                let idle = partialsOn && turn == nil && !partials.isRunning
                let soFar = pttRecording && idle && partialDue && wasPushToTalk && pttCount >= partialShortest
                    ? Array(UnsafeBufferPointer(start: pttBuffer, count: pttCount)) : nil
                return (pttRecording, turn.map { !$0.cancelled && $0.confirmed } ?? false, r, idle, soFar)
            }
            if ptt != wasPushToTalk { wasPushToTalk = ptt; stopPartial(); partials.restart(at: samplesRead) }
            if let pttSoFar { startPartial(pttSoFar) }
            if resetDetector { detector.reset(); dropEarly(); stopPartial() }
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
            // The words so far, every `partialInterval` of speech, while nothing else needs the CPU.
            if partialIdle && partialDue && early == nil && !echoSuspect && detector.inSpeech && event == nil,
               let soFar = detector.speechSoFar(), soFar.count >= partialShortest {
                startPartial(soFar)
            }
            guard let event else { continue }
            switch event {
            case .speechStarted:
                speechStartedAt = max(0, samplesRead - confirmationSamples)
                partials.restart(at: samplesRead)
                if gate.userAboveEcho {
                    emit(.state(.hearingYou))
                    if replyActive { lock.withLock { interruptLocked(by: .voice) } }
                } else {
                    echoSuspect = true
                }
            case .speechPaused(let utterance):
                stopPartial()
                // Start recognition now, while the hangover runs; used if the user does not go on.
                if !echoSuspect && config.earlyTranscription {
                    let samples = utterance.samples
                    // Its words are the words so far: shown as a partial when it is done. With live partials on, the
                    // partial transcriber publishes them, and still does if the user goes on (then the recognition
                    // is no longer the reply's, only a partial, until the next pause cancels it); with them off, it
                    // reports them itself and is cancelled if the user goes on.
                    let live = lock.withLock { partialsOn }
                    let task = Task.detached(priority: .userInitiated) { [self] () throws -> String in
                        let text = try transcribeSerially(samples)
                        if !live && !text.isEmpty { emit(.partialTranscript(text)) }
                        return text
                    }
                    dropEarly()
                    earlyShown = live
                    if live { partials.adopt(task, at: samplesRead) }
                    let speculative = config.speculativeReply
                        ? provisionalTurn(utterance, recognized: task, speechEnd: instant(ofSample: utterance.speechEnd),
                                          startedAt: speechStartedAt) : nil
                    early = (utterance.speechEnd, task, speculative)
                }
            case .speechResumed:
                // The provisional turn goes; the recognition it started goes on as a partial if it was adopted (a
                // pause shorter than a recognition would otherwise cancel every partial of a question with commas).
                if earlyShown {
                    earlyShown = false
                    if let t = early?.turn { lock.withLock { discardLocked(t) } }
                    early = nil
                } else {
                    dropEarly()
                }
                partials.restart(at: samplesRead)
            case .speechEnded(let utterance):
                // The early recognition (if any) now makes the turn: its partial is no longer wanted, but it must
                // not be cancelled.
                if earlyShown { partials.silence(); earlyShown = false } else { stopPartial() }
                if echoSuspect { echoSuspect = false; dropEarly() }
                else { takeTurn(utterance, early: early, speechEnd: instant(ofSample: utterance.speechEnd), startedAt: speechStartedAt) }
                early = nil
            case .speechDiscarded:
                stopPartial()
                echoSuspect = false; dropEarly()
                if !replyActive { emit(.state(.listening)) }
            }
        }
        if earlyShown { partials.silence(); earlyShown = false } else { stopPartial() }
        if let event = detector.finish(), case .speechEnded(let utterance) = event, !echoSuspect {
            takeTurn(utterance, early: early, speechEnd: instant(ofSample: utterance.speechEnd), startedAt: speechStartedAt)
        } else {
            dropEarly()
        }
    }

    /// The end of a spoken turn: confirms the provisional turn started at the pause, if it is for this very
    /// utterance and still alive, or starts the turn (reusing the early recognition when it matches).
    func takeTurn(_ utterance: VoiceUtterance, early: (speechEnd: Int, task: Task<String, Error>, turn: ReplyTurn?)?,
                          speechEnd: ContinuousClock.Instant, startedAt: Int?) {
        let matching = early.flatMap { $0.speechEnd == utterance.speechEnd ? $0 : nil }
        lock.withLock {
            if stopped {
                // The conversation is ending with this speech just finished or still going: it is recognized and logged
                // as a turn with no reply (nothing the user said is lost), never answered.
                // Recognized in a task of its own: the turn's task is cancelled at once, and a recognition inside it
                // would stop at its first layer (speech still going on has no early recognition to reuse).
                if let t = early?.turn { discardLocked(t) }
                let samples = utterance.samples
                let recognized = matching?.task ?? Task.detached(priority: .userInitiated) { [self] in try transcribeSerially(samples) }
                let t = startTurnLocked(.audio(samples, .voice, recognized, startedAt: startedAt), ended: speechEnd,
                                        hangover: config.vad.hangover)
                t.cancelled = true; t.interruptedBy = .typed
                turnTask?.cancel()
                return
            }
            if let t = matching?.turn, turn === t, !t.cancelled {
                confirmLocked(t)
                return
            }
            if let t = early?.turn { discardLocked(t) }
            interruptLocked(by: .voice)
            startTurnLocked(.audio(utterance.samples, .voice, matching?.task, startedAt: startedAt), ended: speechEnd,
                            hangover: config.vad.hangover)
        }
    }

    /// At a pause in speech: the turn this pause would make, started now but held back until confirmed.
    /// The words heard so far of a question still being spoken: the model prefills them while the user talks, so
    /// the reply prefills only the last words. (Not with a wake phrase: whether and what of it is answered is known
    /// only from the whole utterance.)
    func prefillHeard(_ words: String) {
        let (messages, carried, waking) = lock.withLock { (history.messages, carriedOver, wake != nil) }
        guard !waking else { return }
        let text = carried.isEmpty ? words : carried + " " + words
        config.generator.prepare(messages, userSoFar: text)
    }

    func provisionalTurn(_ utterance: VoiceUtterance, recognized: Task<String, Error>,
                                 speechEnd: ContinuousClock.Instant, startedAt: Int?) -> ReplyTurn? {
        lock.withLock {
            guard !stopped else { return nil }
            interruptLocked(by: .voice)
            return startTurnLocked(.audio(utterance.samples, .voice, recognized, startedAt: startedAt), ended: speechEnd,
                                   hangover: config.vad.hangover, provisional: true)
        }
    }

    /// The hangover passed: the provisional turn is the user's turn. Its held-back events go out now, and
    /// its audio may be queued.
    func confirmLocked(_ t: ReplyTurn) {
        t.confirmed = true
        for e in t.heldEvents { emit(e) }
        t.heldEvents.removeAll()
    }

    /// The user went on speaking (or the speech was echo): the provisional turn vanishes, unheard and unseen.
    func discardLocked(_ t: ReplyTurn) {
        guard !t.confirmed else { return }
        t.discarded = true
        t.heldEvents.removeAll()
        if !t.cancelled { t.cancelled = true; t.interruptedBy = .voice }
        if turn === t { turnTask?.cancel() }
    }

    /// One recognition at a time: a speech recognizer keeps one set of run buffers.
    /// - Parameter provisional: for a partial transcript (see `Transcribing.transcribeProvisional`).
    func transcribeSerially(_ samples: [Float], provisional: Bool = false) throws -> String {
        let speech = captureRate == 16000 ? samples : Resampler.resample(samples, from: captureRate, to: 16000)
        return try transcriptionLock.withLock {
            try (provisional ? config.transcriber.transcribeProvisional(speech) : config.transcriber.transcribe(speech))
                .text.trimmingWhitespace
        }
    }

    static func meanSquare(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var s: Float = 0
        for i in 0..<n { s += x[i] * x[i] }
        return s / Float(max(n, 1))
    }
}
