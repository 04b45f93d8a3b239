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
}
