import AudioIO
import Engine
import XCTest

final class ConversationPipelineTests: XCTestCase {
    /// The system prompt as the model gets it: the configured words and the date of the test's fixed clock.
    let system = "You are a test assistant. Today is Saturday, December 5, 2026."

    func configuration(_ asr: FakeTranscriber, _ gen: FakeGenerator, _ tts: FakeSynthesizer) -> ConversationConfiguration {
        var c = ConversationConfiguration(transcriber: asr, generator: gen, synthesizer: tts)
        c.systemPrompt = "You are a test assistant."
        // These tests count and inspect recognitions; partial transcripts (PartialTranscriptTests) would add some.
        c.partialTranscripts = false
        c.clock = AssistantClock(now: { Date(timeIntervalSince1970: 1_796_460_060) }, timeZone: TimeZone(identifier: "Europe/Berlin")!)
        return c
    }

    func tempPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("confab-conv-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    // MARK: Typed input

    func testQuestionAboutTheTimeReachesTheModelWithTheClockButIsShownAsSaid() async throws {
        let gen = FakeGenerator([.init(text: "It is 9:41 AM.")])
        let conversation = try Conversation(configuration(FakeTranscriber([]), gen, FakeSynthesizer()), capture: nil, playback: InstantSink())
        let events = EventCollector(conversation)
        conversation.submit("What time is it?")
        let turns = await events.waitForTurns(1)
        await conversation.stop()
        await events.drain()
        let asked = gen.received.first?.last?.content ?? ""
        XCTAssertTrue(asked.hasPrefix("What time is it?\n(Local time: 9:41 AM, "), asked)
        XCTAssertEqual(turns.first?.transcript, "What time is it?")
        XCTAssertEqual(gen.received.first?.first, ChatMessage(.system, system))
    }

    func testTypedInputRunsTheChain() async throws {
        let log = StageLog()
        let asr = FakeTranscriber([], log: log)
        let gen = FakeGenerator([.init(text: "Paris is the capital of France. It is lovely.")], log: log)
        let tts = FakeSynthesizer(sampleRate: 22050, log: log)    // resampled to the sink's 16 kHz
        let sink = InstantSink()
        let conversation = try Conversation(configuration(asr, gen, tts), capture: nil, playback: sink)
        let events = EventCollector(conversation)
        conversation.submit("  What is the capital of France?  ")
        let turns = await events.waitForTurns(1)
        await conversation.stop()
        await events.drain()

        XCTAssertEqual(asr.calls, 0, "typed input must not go through speech recognition")
        XCTAssertEqual(gen.received.first, [ChatMessage(.system, system), ChatMessage(.user, "What is the capital of France?")])
        XCTAssertEqual(tts.texts, ["Paris is the capital of France.", "It is lovely."])
        guard let t = turns.first else { return }
        XCTAssertEqual(t.input, .typed)
        XCTAssertEqual(t.transcript, "What is the capital of France?")
        XCTAssertEqual(t.reply, "Paris is the capital of France. It is lovely.")
        XCTAssertEqual(t.spoken, t.reply)
        XCTAssertFalse(t.interrupted)
        XCTAssertNotNil(t.timings.firstToken); XCTAssertNotNil(t.timings.firstAudio); XCTAssertNotNil(t.timings.transcript)
        print("typed turn with fake stages (2 ms/token, instant synthesis): first token \(t.timings.firstToken ?? -1) s, first audio \(t.timings.firstAudio ?? -1) s")
        // All synthesized audio reached the sink, at the sink's rate: 9 words × 0.3 s at 16 kHz.
        XCTAssertEqual(Double(sink.samplesPlayed), 9 * 0.3 * 16000, accuracy: 16)
        XCTAssertEqual(conversation.messages.last, ChatMessage(.assistant, "Paris is the capital of France. It is lovely."))
        // The model was asked to get the system prompt ready at once, and the history with this exchange after it.
        XCTAssertEqual(gen.prepared.first, [ChatMessage(.system, system)])
        XCTAssertEqual(gen.prepared.last, conversation.messages)
        XCTAssertEqual(gen.prepared.last?.count, 3)

        let ev = events.events
        let tokens = ev.compactMap { if case .replyToken(let s) = $0 { return s } else { return nil } }
        XCTAssertEqual(tokens.joined(), t.reply)
        XCTAssertTrue(ev.contains(.transcript("What is the capital of France?")))
        XCTAssertTrue(ev.contains(.state(.thinking))); XCTAssertTrue(ev.contains(.state(.speaking)))
        XCTAssertEqual(ev.last, .state(.listening))
    }

    func testStreamedReplyStartsSynthesisBeforeGenerationEnds() async throws {
        let log = StageLog()
        let asr = FakeTranscriber([], log: log)
        let tts = FakeSynthesizer(log: log)
        // The model writes the first sentence (and the next token, which tells the chunker that "there."
        // ends a sentence), then waits until the synthesizer has been asked to speak it before writing the
        // rest: a pipeline that waited for the whole reply would time out here.
        let gen = FakeGenerator([.init(text: "Hello there. How can I help you today?", gateAfter: 3)], log: log)
        gen.gate = { log.contains("tts:Hello there.") }
        let conversation = try Conversation(configuration(asr, gen, tts), capture: nil, playback: InstantSink())
        let events = EventCollector(conversation)
        conversation.submit("Hi")
        _ = await events.waitForTurns(1)
        await conversation.stop()
        XCTAssertFalse(gen.gateTimedOut, "the first sentence was not synthesized while the model was writing")
        let entries = log.all
        guard let synth = entries.firstIndex(of: "tts:Hello there."), let genEnd = entries.firstIndex(of: "gen:end:0") else {
            return XCTFail("\(entries)")
        }
        XCTAssertLessThan(synth, genEnd)
        // The sentence-started event precedes the last token.
        let ev = events.events
        let started = ev.firstIndex(of: .replySentenceStarted(index: 0, text: "Hello there."))
        let lastToken = ev.lastIndex { if case .replyToken = $0 { return true } else { return false } }
        XCTAssertNotNil(started); XCTAssertNotNil(lastToken)
        if let s = started, let l = lastToken { XCTAssertLessThan(s, l) }
    }

    func testTypingDuringAReplyInterruptsIt() async throws {
        // A sink that never plays (a stalled device): the reply stays queued until it is interrupted.
        final class StalledSink: PlaybackSink, @unchecked Sendable {
            let sampleRate = 16000
            private let lock = NSLock()
            private var stops = 0, queued = 0
            var stopCount: Int { lock.withLock { stops } }
            var queuedCount: Int { lock.withLock { queued } }
            func enqueue(_ samples: UnsafeBufferPointer<Float>) { lock.withLock { queued += samples.count } }
            func stop() { lock.withLock { stops += 1 } }
            var samplesPlayed: Int { 0 }
        }
        let sink = StalledSink()
        let gen = FakeGenerator([.init(text: "A long answer that nobody hears."), .init(text: "Short.")])
        let conversation = try Conversation(configuration(FakeTranscriber([]), gen, FakeSynthesizer()), capture: nil, playback: sink)
        let events = EventCollector(conversation)
        conversation.submit("Tell me everything")
        let deadline = ContinuousClock.now + .seconds(30)
        while sink.queuedCount == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
        XCTAssertGreaterThan(sink.queuedCount, 0, "the reply was never queued")
        conversation.submit("Never mind")
        let turns = await events.waitForTurns(1)
        XCTAssertEqual(sink.stopCount, 1)          // (stopping the conversation below stops the second reply too)
        await events.wait("the second reply") { $0.contains(.transcript("Never mind")) }
        await conversation.stop()
        XCTAssertEqual(turns.first?.interrupted, true)
        XCTAssertEqual(turns.first?.spoken, "")
        // Nothing was heard, so the interrupted exchange does not enter the history.
        XCTAssertEqual(gen.received.last, [ChatMessage(.system, system), ChatMessage(.user, "Never mind")])
    }

    /// A device holds only so much (ALSA's ring: 2 s); the conversation must not queue more than that, or its
    /// enqueue waits for the device under the conversation's lock, holding up the microphone and barge-in.
    func testRepliesNeverQueueMoreThanTheDeviceHolds() async throws {
        final class SmallRingSink: PlaybackSink, @unchecked Sendable {
            let sampleRate = 16000
            let queueCapacity = 8000                      // half a second
            private let lock = NSLock()
            private var queued = 0, base = 0, started: ContinuousClock.Instant?
            private var overflow = 0, stops = 0
            var overflows: Int { lock.withLock { overflow } }
            var stopCount: Int { lock.withLock { stops } }
            var queuedTotal: Int { lock.withLock { queued } }
            /// Plays in real time from the first enqueue.
            private func playedLocked() -> Int {
                guard let started else { return base }
                let d = ContinuousClock.now - started
                return min(queued, base + Int((Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18) * 16000))
            }
            var samplesPlayed: Int { lock.withLock { playedLocked() } }
            func enqueue(_ samples: UnsafeBufferPointer<Float>) {
                lock.withLock {
                    if started == nil { started = .now; base = queued }
                    if queued - playedLocked() + samples.count > queueCapacity { overflow += 1 }
                    queued += samples.count
                }
            }
            func stop() { lock.withLock { stops += 1; base = playedLocked(); queued = base; started = nil } }
        }
        let sink = SmallRingSink()
        let story = String(repeating: "Once upon a time there was a voice. ", count: 4)    // ~8.4 s of speech
        let gen = FakeGenerator([.init(text: story), .init(text: "Fine.")])
        let conversation = try Conversation(configuration(FakeTranscriber([]), gen, FakeSynthesizer()), capture: nil, playback: sink)
        let events = EventCollector(conversation)
        conversation.submit("Tell me a story")
        let deadline = ContinuousClock.now + .seconds(30)
        while sink.queuedTotal < 3 * 16000 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertGreaterThanOrEqual(sink.queuedTotal, 3 * 16000, "the reply goes on being queued as it plays")
        XCTAssertEqual(sink.overflows, 0, "enqueued more than the device holds")
        let asked = ContinuousClock.now
        conversation.submit("Enough")
        while sink.stopCount == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
        XCTAssertEqual(sink.stopCount, 1)
        XCTAssertLessThan(ContinuousClock.now - asked, .milliseconds(500), "the interruption waited for the device")
        _ = await events.waitForTurns(1)
        await conversation.stop()
        XCTAssertEqual(sink.overflows, 0)
    }

    // MARK: Hands-free voice turns

    func testVoiceQuestionWithEchoOnSpeakersMakesOneUninterruptedTurn() async throws {
        let q1 = try TestSignals.fixture("question-tokyo")
        var script = TestSignals.silence(0.5); script += q1
        let device = SimulatedDuplexDevice(script: script)
        device.echo = [(640, 0.5), (1040, -0.2)]      // the reply comes back through the room
        let asr = FakeTranscriber(["What time is it in Tokyo?"])
        let gen = FakeGenerator([.init(text: "It is nine in the evening in Tokyo. Anything else?")])
        let tts = FakeSynthesizer()
        var config = configuration(asr, gen, tts)
        config.recordingPath = tempPath("both-sides.wav")
        let conversation = try Conversation(config, capture: device, playback: device)
        let events = EventCollector(conversation)
        conversation.start()
        let turns = await events.waitForTurns(1)
        // Keep listening a little longer: the echo of the reply must not start another turn.
        let until = device.capturePosition + 16000
        while device.capturePosition < until { try await Task.sleep(for: .milliseconds(5)) }
        await conversation.stop()

        XCTAssertEqual(turns.count, 1)
        XCTAssertEqual(asr.distinctUtterances, 1, "the reply's echo was transcribed as a turn")
        XCTAssertTrue(events.events.contains(.partialTranscript("What time is it in Tokyo?")))
        XCTAssertTrue(device.stopRecords.isEmpty, "the reply's own echo interrupted it")
        guard let t = turns.first else { return }
        XCTAssertEqual(t.input, .voice)
        XCTAssertFalse(t.interrupted)
        XCTAssertEqual(t.spoken, "It is nine in the evening in Tokyo. Anything else?")
        XCTAssertEqual(t.timings.hangover, 0.5)
        // The utterance handed to recognition holds the whole question plus pre-roll.
        let heard = asr.utterances.first ?? []
        XCTAssertGreaterThan(heard.count, q1.count - TestSignals.onset(q1))
        // Recording: stereo, mic left, reply right.
        let (rec, info) = try AudioFile.readInterleaved(config.recordingPath!)
        XCTAssertEqual(info.channels, 2)
        let right = stride(from: 1, to: rec.count, by: 2).map { rec[$0] }
        XCTAssertGreaterThan(TestSignals.rms(right[...]), 0.01)
    }

    func testBargeInStopsPlaybackCancelsTheReplyAndKeepsOnlyTheSpokenPart() async throws {
        try await bargeIn(echo: [(640, 0.5), (1040, -0.2)])     // on speakers: the reply's echo in the capture
    }

    func testBargeInOnHeadphones() async throws {
        try await bargeIn(echo: [])
    }

    func bargeIn(echo: [(delay: Int, gain: Float)], file: StaticString = #filePath, line: UInt = #line) async throws {
        let q1 = try TestSignals.fixture("question-tokyo")
        let interruption = try TestSignals.fixture("interruption-joke")
        var script = TestSignals.silence(0.5); script += q1
        let device = SimulatedDuplexDevice(script: script)
        device.echo = echo
        let asr = FakeTranscriber(["What is the capital of France?", "Wait, tell me a joke instead."])
        let first = "Paris is the capital of France."          // 6 words: 1.8 s of audio
        let second = "It has many museums and old cafes."       // 7 words: 2.1 s
        let gen = FakeGenerator([
            .init(text: first + " " + second + " People from all over the world come to see it every single year.",
                  slowAfter: 14, slowDelay: .milliseconds(100)),
            .init(text: "Why did the chicken cross the road?"),
        ])
        let tts = FakeSynthesizer()
        var config = configuration(asr, gen, tts)
        config.sessionLogPath = tempPath("session.jsonl")
        let conversation = try Conversation(config, capture: device, playback: device)
        let events = EventCollector(conversation)
        // The user starts talking 0.4 s into the second sentence.
        device.inject(interruption, whenPlayed: Int((1.8 + 0.4) * 16000))
        conversation.start()
        let turns = await events.waitForTurns(2)
        await conversation.stop()

        guard turns.count == 2, let injected = device.injections.first, let stop = device.stopRecords.first else {
            return XCTFail("turns \(turns.count), injections \(device.injections), stops \(device.stopRecords)")
        }
        // Stopped within 150 ms of the user's first sound (device time, independent of machine speed),
        // counting from the first sample above -46 dBFS.
        let onset = injected + TestSignals.onset(interruption, threshold: 0.005)
        let latency = Double(stop.position - onset) / 16000
        print("barge-in (\(echo.isEmpty ? "no echo" : "with echo")): playback stopped \(Int(latency * 1000)) ms (device time) after the user's first sample above -46 dBFS")
        XCTAssertGreaterThan(stop.position, onset, "stopped before the user spoke (echo?)")
        XCTAssertLessThanOrEqual(latency, 0.150)
        XCTAssertEqual(device.stopRecords.count, 1)
        // Nothing of the cancelled reply was queued after the stop.
        XCTAssertEqual(device.samplesPlayed, stop.played + tts.samples(for: "Why did the chicken cross the road?"))

        // Generation was cancelled, and the rest of the reply never synthesized.
        XCTAssertEqual(gen.cancelled.first, true)
        XCTAssertFalse(tts.texts.contains { $0.hasPrefix("People") })
        // History: the first sentence and the few words of the second that were heard, nothing more.
        let t1 = turns[0]
        XCTAssertTrue(t1.interrupted)
        XCTAssertTrue(t1.spoken.hasPrefix(first + " It"), t1.spoken)
        XCTAssertTrue(t1.spoken.hasSuffix("—"), t1.spoken)
        XCTAssertFalse(t1.spoken.contains("cafes"), t1.spoken)
        XCTAssertTrue(events.events.contains(.interrupted(spoken: t1.spoken)))
        XCTAssertEqual(gen.distinctRequests.count, 2)
        XCTAssertEqual(gen.received.last, [
            ChatMessage(.system, system),
            ChatMessage(.user, "What is the capital of France?"),
            ChatMessage(.assistant, t1.spoken),
            ChatMessage(.user, "Wait, tell me a joke instead."),
        ])
        // The interruption itself became the next turn, answered in full.
        XCTAssertEqual(turns[1].transcript, "Wait, tell me a joke instead.")
        XCTAssertFalse(turns[1].interrupted)
        // The session log has both turns.
        let logged = try SessionLog.read(config.sessionLogPath!)
        XCTAssertEqual(logged.map(\.transcript), ["What is the capital of France?", "Wait, tell me a joke instead."])
        XCTAssertEqual(logged.first?.interrupted, true)
    }

    func testNoBargeInLetsTheReplyFinishAndIgnoresItsEcho() async throws {
        let q1 = try TestSignals.fixture("question-tokyo")
        let interruption = try TestSignals.fixture("interruption-joke")
        var script = TestSignals.silence(0.5); script += q1
        let device = SimulatedDuplexDevice(script: script)
        device.echo = [(640, 0.5)]
        let asr = FakeTranscriber(["What time is it?", "Should not happen."])
        let gen = FakeGenerator([.init(text: "It is noon. Have a nice lunch.")])
        let tts = FakeSynthesizer()
        var config = configuration(asr, gen, tts)
        config.bargeIn = false
        config.echoCancellation = false          // a setup without echo cancellation
        let conversation = try Conversation(config, capture: device, playback: device)
        let events = EventCollector(conversation)
        device.inject(interruption, whenPlayed: 8000)
        conversation.start()
        let turns = await events.waitForTurns(1)
        let until = device.capturePosition + 24000
        while device.capturePosition < until { try await Task.sleep(for: .milliseconds(5)) }
        await conversation.stop()
        XCTAssertTrue(device.stopRecords.isEmpty)
        XCTAssertEqual(turns.first?.spoken, "It is noon. Have a nice lunch.")
        XCTAssertEqual(asr.distinctUtterances, 1, "speech or echo during the reply made a turn")
    }

    func testSilenceAndNoiseMakeNoTurnAndTwoQuestionsMakeTwo() async throws {
        let q1 = try TestSignals.fixture("question-tokyo")
        let q2 = try TestSignals.fixture("interruption-joke")
        // 2 s of fan noise and a cough, then two questions 1 s apart (answers are short).
        var script = TestSignals.pinkNoise(9, rms: 0.005, seed: 41)
        TestSignals.mix(&script, TestSignals.cough(rms: 0.08), at: 16000)
        TestSignals.mix(&script, q1, at: 2 * 16000)
        let device = SimulatedDuplexDevice(script: script)
        device.noiseRMS = 0
        let asr = FakeTranscriber(["What time is it in Tokyo?", "Tell me a joke."])
        let gen = FakeGenerator([.init(text: "Nine."), .init(text: "No.")])
        let tts = FakeSynthesizer()
        let conversation = try Conversation(configuration(asr, gen, tts), capture: device, playback: device)
        let events = EventCollector(conversation)
        conversation.start()
        _ = await events.waitForTurns(1)
        // The second question arrives after the first answer.
        device.inject(q2, whenPlayed: 0)
        let turns = await events.waitForTurns(2)
        await conversation.stop()
        XCTAssertEqual(asr.distinctUtterances, 2, "noise or the cough made a turn")
        XCTAssertEqual(turns.map(\.transcript), ["What time is it in Tokyo?", "Tell me a joke."])
    }

    /// Recognition starts when speech pauses and its result is used when the pause becomes the end of
    /// the turn; if the user goes on, the whole utterance is recognized again.
    func testEarlyRecognitionDuringTheHangover() async throws {
        let word = TestSignals.voiced(0.8, rms: 0.05)
        var script = TestSignals.silence(0.5); script += word
        script += TestSignals.silence(0.3); script += word     // a pause longer than pauseNotice, shorter than the hangover
        let device = SimulatedDuplexDevice(script: script)
        let asr = FakeTranscriber { $0.count < 24000 ? "Hello" : "Hello again" }   // one word, or both
        let gen = FakeGenerator([.init(text: "Hi.")])
        let conversation = try Conversation(configuration(asr, gen, FakeSynthesizer()), capture: device, playback: device)
        let events = EventCollector(conversation)
        conversation.start()
        let turns = await events.waitForTurns(1)
        await conversation.stop()
        // Two early recognitions (at the inner pause, and at the final one), no third after the hangover.
        XCTAssertEqual(asr.calls, 2)
        XCTAssertEqual(asr.utterances.last?.count, asr.utterances.max { $0.count < $1.count }?.count)
        let partials = events.events.compactMap { if case .partialTranscript(let t) = $0 { return t } else { return nil } }
        XCTAssertEqual(partials, ["Hello", "Hello again"])
        XCTAssertEqual(turns.first?.transcript, "Hello again")
        // The utterance of the turn spans both words.
        XCTAssertGreaterThan(asr.utterances.last?.count ?? 0, Int(1.9 * 16000))
    }

    /// The reply starts at the pause, during the hangover, but nothing of it is heard or shown before the
    /// hangover confirms the turn.
    func testSpeculativeReplyRunsDuringTheHangoverAndWaitsForIt() async throws {
        let word = TestSignals.voiced(0.8, rms: 0.05)
        var script = TestSignals.silence(0.5); script += word
        let speechEnd = script.count
        let device = SimulatedDuplexDevice(script: script)
        device.pace = 20_000                          // real time: the hangover takes its 0.5 s
        let asr = FakeTranscriber(["Hello"])
        let gen = FakeGenerator([.init(text: "Hi there.")])
        let conversation = try Conversation(configuration(asr, gen, FakeSynthesizer()), capture: device, playback: device)
        let events = EventCollector(conversation)
        conversation.start()
        let turns = await events.waitForTurns(1)
        await conversation.stop()
        guard let t = turns.first, let tokenAt = t.timings.firstToken, let audioAt = t.timings.firstAudio,
              let enqueued = device.firstEnqueuePosition else { return XCTFail("no turn or no audio: \(turns)") }
        // The model answered before the hangover was over (recognition and reply started at the pause)...
        XCTAssertLessThan(tokenAt, 0.5, "the reply did not start during the hangover")
        // ...but its audio was queued only once the hangover had passed (device time, frame-quantized).
        XCTAssertGreaterThanOrEqual(enqueued, speechEnd + Int(0.5 * 16000) - 640)
        XCTAssertGreaterThanOrEqual(audioAt, 0.45)
        XCTAssertEqual(gen.received.count, 1)
        XCTAssertEqual(t.transcript, "Hello")
    }

    /// A pause shorter than the hangover starts a provisional reply; when the user goes on, it vanishes:
    /// not played, not shown, not in the history or the log, and the turn is the whole utterance.
    func testSpeculativeReplyIsDroppedWhenTheUserGoesOn() async throws {
        let word = TestSignals.voiced(0.8, rms: 0.05)
        var script = TestSignals.silence(0.5); script += word
        script += TestSignals.silence(0.35); script += word    // a pause longer than pauseNotice, shorter than the hangover
        let device = SimulatedDuplexDevice(script: script)
        device.pace = 20_000
        let asr = FakeTranscriber { $0.count < 24000 ? "Hello" : "Hello again" }
        // The provisional reply writes slowly enough to be still going when the user goes on.
        let gen = FakeGenerator([.init(text: "Hi. Nice to meet you.", tokenDelay: .milliseconds(100)), .init(text: "Hello to you too.")])
        var config = configuration(asr, gen, FakeSynthesizer())
        config.sessionLogPath = tempPath("session.jsonl")
        let conversation = try Conversation(config, capture: device, playback: device)
        let events = EventCollector(conversation)
        conversation.start()
        let turns = await events.waitForTurns(1)
        try await Task.sleep(for: .milliseconds(300))
        await conversation.stop()
        await events.drain()
        XCTAssertEqual(turns.count, 1)
        XCTAssertEqual(turns.first?.transcript, "Hello again")
        XCTAssertEqual(turns.first?.reply, "Hello to you too.")
        // The provisional reply to "Hello" was asked for and cancelled.
        XCTAssertEqual(gen.received.first?.last, ChatMessage(.user, "Hello"))
        XCTAssertEqual(gen.cancelled.first, true)
        // Nothing of it reached the screen or the speaker: one transcript, the final one; only its reply's audio.
        let transcripts = events.events.compactMap { if case .transcript(let x) = $0 { return x } else { return nil } }
        XCTAssertEqual(transcripts, ["Hello again"])
        XCTAssertFalse(events.events.contains(.interrupted(spoken: "")))
        XCTAssertTrue(device.stopRecords.isEmpty, "playback was stopped: provisional audio had been queued")
        XCTAssertEqual(conversation.messages.map(\.content), [system, "Hello again", "Hello to you too."])
        XCTAssertEqual(try SessionLog.read(config.sessionLogPath!).map(\.transcript), ["Hello again"])
    }

    func testPushToTalkToggleMakesATurn() async throws {
        let q1 = try TestSignals.fixture("question-tokyo")
        var script = TestSignals.silence(0.5); script += q1; script += TestSignals.silence(0.3)
        let device = SimulatedDuplexDevice(script: script)
        let asr = FakeTranscriber(["What time is it in Tokyo?"])
        let gen = FakeGenerator([.init(text: "Nine.")])
        var config = configuration(asr, gen, FakeSynthesizer())
        config.handsFree = false
        let conversation = try Conversation(config, capture: device, playback: device)
        let events = EventCollector(conversation)
        device.at(4000) { conversation.togglePushToTalk() }                 // key at 0.25 s
        device.at(8000 + q1.count + 1600) { conversation.togglePushToTalk() } // key again 0.1 s after the end
        conversation.start()
        let turns = await events.waitForTurns(1)
        await conversation.stop()
        XCTAssertEqual(turns.first?.input, .pushToTalk)
        let heard = asr.utterances.first ?? []
        // Everything between the two key presses (frame-quantized) and nothing else.
        XCTAssertEqual(Double(heard.count), Double(8000 + q1.count + 1600 - 4000), accuracy: 640)
    }

    /// Headless file mode: a capture file with two questions, a file-like sink; capture pauses while a
    /// question is answered, so neither answer interrupts the other.
    func testFileModeAnswersEachQuestionInTurn() async throws {
        let q1 = try TestSignals.fixture("question-tokyo")
        let q2 = try TestSignals.fixture("interruption-joke")
        var file = TestSignals.whiteNoise(0.5, rms: 0.001)
        file += q1; file += TestSignals.whiteNoise(1.0, rms: 0.001, seed: 3); file += q2; file += TestSignals.whiteNoise(0.2, rms: 0.001, seed: 5)
        let source = ArrayCaptureSource(file)
        let sink = InstantSink()
        let asr = FakeTranscriber(["What time is it in Tokyo?", "Tell me a joke."])
        let gen = FakeGenerator([.init(text: "Nine in the evening."), .init(text: "Knock knock.")])
        var config = configuration(asr, gen, FakeSynthesizer())
        config.pauseCaptureDuringReply = true
        config.echoCancellation = false
        let conversation = try Conversation(config, capture: source, playback: sink)
        let events = EventCollector(conversation)
        conversation.start()
        await conversation.waitForCaptureEnd()      // the file ends 0.2 s after q2: the detector hands it on anyway
        await conversation.waitUntilIdle()
        let turns = await events.waitForTurns(2)
        await conversation.stop()
        XCTAssertEqual(turns.map(\.transcript), ["What time is it in Tokyo?", "Tell me a joke."])
        XCTAssertEqual(turns.map(\.interrupted), [false, false])
        XCTAssertEqual(sink.samplesPlayed, 6 * 4800)
    }
}
