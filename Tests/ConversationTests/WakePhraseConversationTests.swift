import AudioIO
import Engine
import XCTest

/// The wake phrase and the follow-up window in whole conversations, on real speech: questions spoken by the
/// default Piper voice, recognized by Whisper tiny.en (both from the model store; a missing model fails).
/// The capture is a file read as fast as it goes and paused while a turn runs (file mode), so the follow-up
/// window runs on the file's timeline: the seconds of silence in the script, whatever the machine's speed.
final class WakePhraseConversationTests: XCTestCase {
    nonisolated(unsafe) static var models: (asr: WhisperTranscriber, voice: PiperSynthesizer)?

    func models() throws -> (asr: WhisperTranscriber, voice: PiperSynthesizer) {
        if let m = Self.models { return m }
        let m = (try WhisperTranscriber(directory: try ModelStore().resolve("tiny.en", kind: .whisper)),
                 try PiperSynthesizer(voice: "en_US-joe-medium"))
        Self.models = m
        return m
    }

    /// `text` as the Piper voice says it, at 16 kHz.
    func spoken(_ text: String) throws -> [Float] {
        let tts = try models().voice
        tts.options.seed = 7
        var speech: [Float] = []
        try tts.synthesize(try tts.voice.phonemize(text)) { speech += $0; return true }
        return Resampler.resample(speech, from: tts.sampleRate, to: 16000)
    }

    /// Speech and pauses (seconds) in order, over faint noise.
    func script(_ parts: [Any]) throws -> [Float] {
        var out: [Float] = []
        for (i, p) in parts.enumerated() {
            if let s = p as? String { out += try spoken(s) }
            else if let d = p as? Double { out += TestSignals.whiteNoise(d, rms: 0.001, seed: UInt64(i + 1)) }
        }
        return out
    }

    func run(_ audio: [Float], window: Double, replies: [String]) async throws -> (turns: [TurnRecord], events: [ConversationEvent]) {
        var config = ConversationConfiguration(transcriber: try models().asr, generator: FakeGenerator(replies.map { .init(text: $0) }),
                                               synthesizer: FakeSynthesizer())
        config.systemPrompt = "You are a test assistant."
        config.clock = nil
        config.wakePhrase = try WakePhrase("hey confab")
        config.followUpWindow = window
        config.pauseCaptureDuringReply = true
        config.echoCancellation = false
        let conversation = try Conversation(config, capture: ArrayCaptureSource(audio), playback: InstantSink())
        let events = EventCollector(conversation)
        conversation.start()
        await conversation.waitForCaptureEnd()
        await conversation.waitUntilIdle()
        await conversation.stop()
        await events.drain()
        let turns = events.events.compactMap { if case .turnFinished(let r) = $0 { return r } else { return nil } }
        return (turns, events.events)
    }

    func notAddressed(_ events: [ConversationEvent]) -> [String] {
        events.compactMap { if case .notAddressed(let t) = $0 { return t } else { return nil } }
    }

    /// A question without the phrase gets no reply; one with it does, without the phrase; a follow-up inside the
    /// window needs none; after the window has passed, a question without the phrase gets no reply again.
    func testOnlyTheWakePhraseOrAFollowUpInsideTheWindowGetsAReply() async throws {
        let audio = try script([
            0.6, "What is the capital of France?",
            1.5, "Hey Confab, how many days are there in a week?",
            3.0, "And how many hours are there in a day?",          // 3 s after the reply: inside the 8 s window
            10.0, "Who wrote Romeo and Juliet?",                    // 10 s after the last reply: outside
            1.0,
        ])
        let (turns, events) = try await run(audio, window: 8, replies: ["Seven.", "Twenty-four."])
        // Whisper's exact words may vary a little; the phrase must be gone and each question there.
        XCTAssertEqual(turns.count, 2, "\(turns.map(\.transcript))")
        XCTAssertTrue(turns.first?.transcript.hasPrefix("How many days") ?? false, "\(turns.map(\.transcript))")
        XCTAssertTrue(turns.last?.transcript.lowercased().contains("hours") ?? false, "\(turns.map(\.transcript))")
        XCTAssertEqual(turns.map(\.reply), ["Seven.", "Twenty-four."])
        let ignored = notAddressed(events)
        XCTAssertEqual(ignored.count, 2, "\(ignored)")
        XCTAssertTrue(ignored.first?.contains("capital of France") ?? false, "\(ignored)")
        XCTAssertTrue(ignored.last?.contains("Romeo") ?? false, "\(ignored)")
        // What the screen is told: waiting for the phrase, a follow-up window after each reply, and waiting
        // again once it has passed (before the last question was heard).
        let wake = events.compactMap { if case .wake(let w) = $0 { return w } else { return nil } }
        XCTAssertEqual(wake, [.waitingForPhrase("hey confab"), .followUp, .waitingForPhrase("hey confab")])
        let lastWait = events.lastIndex(of: .wake(.waitingForPhrase("hey confab")))
        let lastIgnored = events.lastIndex { if case .notAddressed = $0 { return true } else { return false } }
        if let w = lastWait, let i = lastIgnored { XCTAssertLessThan(w, i) }
        // Nothing of the unanswered speech became a transcript.
        let transcripts = events.compactMap { if case .transcript(let t) = $0 { return t } else { return nil } }
        XCTAssertEqual(transcripts, turns.map(\.transcript))
    }

    /// The phrase said alone opens the window for the question after it; a window of 2 s is over 3 s later.
    func testThePhraseAloneOpensTheWindowAndAShortWindowCloses() async throws {
        let audio = try script([
            0.6, "Hey, Confab!",
            1.2, "What is two plus two?",
            3.0, "What is three plus three?",                      // 3 s after the reply, window 2 s: not answered
            1.0,
        ])
        let (turns, events) = try await run(audio, window: 2, replies: ["Four."])
        XCTAssertEqual(turns.count, 1, "\(turns.map(\.transcript))")
        XCTAssertTrue(turns.first?.transcript.lowercased().contains("plus") ?? false, "\(turns.map(\.transcript))")
        XCTAssertEqual(notAddressed(events).count, 1, "\(notAddressed(events))")
        XCTAssertTrue(notAddressed(events).first?.lowercased().contains("plus") ?? false, "\(notAddressed(events))")
    }
}
