import AudioIO
import Engine
import XCTest

/// Partial transcripts: the growing utterance recognized again while the user speaks, only in idle time.
final class PartialTranscriptTests: XCTestCase {
    func configuration(_ asr: FakeTranscriber, _ gen: FakeGenerator) -> ConversationConfiguration {
        var c = ConversationConfiguration(transcriber: asr, generator: gen, synthesizer: FakeSynthesizer())
        c.systemPrompt = "You are a test assistant."
        c.clock = nil
        // Only the live partials: no recognition at the pause (which reports its words as a partial too).
        c.earlyTranscription = false
        return c
    }

    /// 2.5 s of speech in real time: partials every 0.5 s of audio, each of a longer stretch, all before the final
    /// transcript; none after it.
    func testPartialsArriveWhileSpeakingAndBeforeTheFinalTranscript() async throws {
        var script = TestSignals.silence(0.5); script += TestSignals.voiced(2.5, rms: 0.05); script += TestSignals.silence(1.0)
        let device = SimulatedDuplexDevice(script: script)
        device.pace = 20_000                                    // real time
        let asr = FakeTranscriber { "heard \($0.count / 1600)" }   // tenths of a second of audio
        let gen = FakeGenerator([.init(text: "Yes.")])
        let conversation = try Conversation(configuration(asr, gen), capture: device, playback: device)
        let events = EventCollector(conversation)
        conversation.start()
        let turns = await events.waitForTurns(1)
        await conversation.stop()
        await events.drain()
        let ev = events.events
        let partials = ev.compactMap { if case .partialTranscript(let t) = $0 { return t } else { return nil } }
        guard let final = ev.firstIndex(where: { if case .transcript = $0 { return true } else { return false } }) else {
            return XCTFail("no transcript: \(ev)")
        }
        XCTAssertGreaterThanOrEqual(partials.count, 3, "\(partials)")
        XCTAssertLessThanOrEqual(partials.count, 5, "\(partials)")
        let lastPartial = ev.lastIndex { if case .partialTranscript = $0 { return true } else { return false } }
        XCTAssertLessThan(lastPartial ?? .max, final, "a partial came after the final transcript")
        // Each partial covers more of the utterance than the one before, and less than the whole.
        let tenths = partials.compactMap { Int($0.split(separator: " ").last ?? "") }
        XCTAssertEqual(tenths, tenths.sorted())
        XCTAssertEqual(Set(tenths).count, tenths.count)
        let whole = Int(turns.first?.transcript.split(separator: " ").last ?? "") ?? 0
        XCTAssertLessThan(tenths.last ?? .max, whole)
        XCTAssertGreaterThanOrEqual(whole, 25)
        // Each partial went to the model to prefill, after the conversation so far (the system prompt).
        XCTAssertEqual(gen.heard.map(\.words), partials)
        XCTAssertTrue(gen.heard.allSatisfy { $0.messages == [ChatMessage(.system, "You are a test assistant.")] })
    }

    /// A question with commas: pauses shorter than a recognition. The recognition started at a pause (for the reply
    /// it would make) goes on as a partial when the user goes on, so the words so far still appear while the user
    /// speaks; cancelling it at every resumption left such a question without any partial until its end.
    func testShortPausesShorterThanARecognitionStillShowTheWordsSoFar() async throws {
        var script = TestSignals.silence(0.5)
        for _ in 0..<3 { script += TestSignals.voiced(1.0, rms: 0.05); script += TestSignals.silence(0.25) }
        script += TestSignals.silence(1.5)
        let device = SimulatedDuplexDevice(script: script)
        device.pace = 20_000                                    // real time
        let asr = FakeTranscriber { usleep(900_000); return "heard \($0.count / 1600)" }   // slower than a pause
        var config = configuration(asr, FakeGenerator([.init(text: "Yes.")]))
        config.earlyTranscription = true
        let conversation = try Conversation(config, capture: device, playback: device)
        let events = EventCollector(conversation)
        conversation.start()
        let turns = await events.waitForTurns(1)
        await conversation.stop()
        await events.drain()
        let ev = events.events
        guard let final = ev.firstIndex(where: { if case .transcript = $0 { return true } else { return false } }) else {
            return XCTFail("no transcript: \(ev)")
        }
        let whole = Int(turns.first?.transcript.split(separator: " ").last ?? "") ?? 0
        XCTAssertGreaterThanOrEqual(whole, 30, "\(turns)")
        let before = ev[..<final].compactMap { e -> Int? in
            if case .partialTranscript(let t) = e { return Int(t.split(separator: " ").last ?? "") } else { return nil }
        }
        XCTAssertTrue(before.contains { $0 < whole - 5 }, "no words so far while speaking: \(before), whole \(whole)")
        XCTAssertFalse(ev[final...].contains { if case .partialTranscript = $0 { return true } else { return false } })
        XCTAssertEqual(turns.count, 1)
    }

    func testNoPartialsWhenOff() async throws {
        // Off: one recognition, the final one.
        var script = TestSignals.silence(0.5); script += TestSignals.voiced(2.0, rms: 0.05); script += TestSignals.silence(1.0)
        let device = SimulatedDuplexDevice(script: script)
        device.pace = 20_000
        let asr = FakeTranscriber { _ in "hello" }
        var config = configuration(asr, FakeGenerator([.init(text: "Hi.")]))
        config.partialTranscripts = false
        let conversation = try Conversation(config, capture: device, playback: device)
        let events = EventCollector(conversation)
        conversation.start()
        _ = await events.waitForTurns(1)
        await conversation.stop()
        XCTAssertEqual(asr.calls, 1)
        XCTAssertFalse(events.events.contains(.partialTranscript("hello")))
    }

    /// The mechanism itself, shared with dictation: due every `interval` of audio from `restart`, one at a time, and a
    /// recognition still running when `stop()` comes is never published, however late it returns.
    func testPartialTranscriberIsDueByAudioAndStopSilencesTheOneRunning() throws {
        final class Gate: @unchecked Sendable {
            let started = DispatchSemaphore(value: 0), go = DispatchSemaphore(value: 0)
            let lock = NSLock(); var shown: [String] = []; var lengths: [Int] = []
        }
        let g = Gate()
        let partials = PartialTranscriber(
            sampleRate: 16000, interval: 0.5, frameSize: 320,
            recognize: { samples in
                g.lock.withLock { g.lengths.append(samples.count) }
                g.started.signal(); g.go.wait()
                return "words \(samples.count)"
            },
            publish: { text in g.lock.withLock { g.shown.append(text) } })
        XCTAssertEqual(partials.interval, 8000)
        XCTAssertEqual(partials.shortest, 8000)
        partials.restart(at: 1000)
        XCTAssertFalse(partials.isDue(at: 8999))
        XCTAssertTrue(partials.isDue(at: 9000))

        // Too short: nothing starts.
        partials.start([Float](repeating: 0.1, count: 4000), at: 9000)
        XCTAssertFalse(partials.isRunning)
        // One that finishes before the speech ends is published.
        partials.start([Float](repeating: 0.1, count: 9000), at: 9000)
        XCTAssertTrue(partials.isRunning)
        XCTAssertFalse(partials.isDue(at: 16999), "the interval counts from the start of the last one")
        XCTAssertEqual(g.started.wait(timeout: .now() + 30), .success)
        g.go.signal()
        XCTAssertTrue(waitUntil { !partials.isRunning })
        XCTAssertEqual(g.lock.withLock { g.shown }, ["words 9000"])

        // One still running when the speech ends is cancelled and never published.
        partials.start([Float](repeating: 0.1, count: 17000), at: 17000)
        XCTAssertEqual(g.started.wait(timeout: .now() + 30), .success)
        partials.stop()
        XCTAssertTrue(partials.isRunning, "the recognizer is still busy until it returns")
        g.go.signal()
        XCTAssertTrue(waitUntil { !partials.isRunning })
        XCTAssertEqual(g.lock.withLock { g.shown }, ["words 9000"], "nothing after stop()")
        XCTAssertEqual(g.lock.withLock { g.lengths }, [9000, 17000])
    }

    /// Polls `condition` until it holds (false after 30 s).
    func waitUntil(_ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline { if condition() { return true }; usleep(1000) }
        return condition()
    }
}
