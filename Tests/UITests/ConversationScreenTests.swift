import XCTest
@testable import Engine
@testable import UI

final class ConversationScreenTests: XCTestCase {
    func testEventsBuildTheTranscriptReplyAndLatencyLine() {
        var m = ScreenModel()
        m.mode = .handsFree
        m.apply(.state(.hearingYou))
        XCTAssertEqual(m.activity, .hearingYou)
        m.apply(.state(.transcribing))
        XCTAssertTrue(m.activity.isWorking)
        m.apply(.transcript("what is the capital of france"))
        m.apply(.timing(.transcript, 0.21))
        m.apply(.state(.thinking))
        m.apply(.replyToken("Paris"))
        m.apply(.replyToken(" is the capital."))
        XCTAssertEqual(m.streamingReply, "Paris is the capital.")
        m.apply(.timing(.firstToken, 0.40))
        m.apply(.timing(.firstAudio, 0.65))
        XCTAssertEqual(m.latency, "end of speech → transcript 0.21 s · → first token 0.40 s · → first audio 0.65 s")
        var record = TurnRecord(turn: 1, started: Date(), input: .voice, transcript: "what is the capital of france",
                                reply: "Paris is the capital.", spoken: "Paris is the capital.", interrupted: false,
                                timings: TurnTimings(), error: nil)
        record.timings.transcript = 0.21; record.timings.firstToken = 0.40; record.timings.firstAudio = 0.65
        m.apply(.turnFinished(record))
        XCTAssertNil(m.streamingReply)
        XCTAssertEqual(m.entries, [.init(.you, "what is the capital of france"), .init(.confab, "Paris is the capital.")])
        XCTAssertEqual(m.activity, .listening)
    }

    /// Words so far are shown dimmed and marked provisional ("you ‥ … …"), each partial replacing the last, and the
    /// final transcript replaces them; speech not for Confab clears them and says why.
    func testPartialTranscriptsAreProvisionalAndTheFinalReplacesThem() {
        var m = ScreenModel()
        m.mode = .handsFree
        m.apply(.state(.hearingYou))
        m.apply(.partialTranscript("what is"))
        XCTAssertEqual(m.transcriptLines(width: 80).map(\.1), ["you ‥ what is …"])
        XCTAssertEqual(m.transcriptLines(width: 80).first?.0, .provisional)
        m.apply(.partialTranscript("what is the capital"))
        XCTAssertEqual(m.transcriptLines(width: 80).map(\.1), ["you ‥ what is the capital …"])
        m.apply(.transcript("What is the capital of France?"))
        XCTAssertEqual(m.transcriptLines(width: 80).map(\.1).first, "you › What is the capital of France?")
        XCTAssertFalse(m.transcriptLines(width: 80).contains { $0.0 == .provisional })
        XCTAssertNil(m.partialTranscript)

        m.apply(.wake(.waitingForPhrase("hey confab")))
        m.apply(.state(.listening))
        XCTAssertEqual(m.wakeDetail, "say “hey confab”")
        m.apply(.partialTranscript("who wrote"))
        m.apply(.notAddressed("Who wrote Hamlet?"))
        XCTAssertNil(m.partialTranscript)
        XCTAssertEqual(m.status, "not for me (it did not start with “hey confab”): Who wrote Hamlet?")
        m.apply(.wake(.followUp))
        XCTAssertEqual(m.wakeDetail, "listening for a follow-up")
        m.apply(.state(.thinking))
        XCTAssertNil(m.wakeDetail, "only while listening")
        m.apply(.state(.listening))
        m.mode = .pushToTalk
        XCTAssertNil(m.wakeDetail, "the phrase is for hands-free only")
        // Speech that made no turn leaves no provisional words behind.
        m.mode = .handsFree
        m.apply(.partialTranscript("mm"))
        m.apply(.state(.listening))
        XCTAssertNil(m.partialTranscript)
    }

    func testInterruptedReplyShowsOnlyWhatWasSpoken() {
        var m = ScreenModel()
        m.apply(.transcript("tell me a story"))
        m.apply(.replyToken("Once upon a time. There was a fox."))
        m.apply(.interrupted(spoken: "Once upon a time."))
        let record = TurnRecord(turn: 1, started: Date(), input: .voice, transcript: "tell me a story",
                                reply: "Once upon a time. There was a fox.", spoken: "Once upon a time.", interrupted: true,
                                timings: TurnTimings(), error: nil)
        m.apply(.turnFinished(record))
        XCTAssertEqual(m.entries.last, .init(.confab, "Once upon a time. …"))
        m.apply(.error("capture: device hw:9 disappeared"))
        XCTAssertEqual(m.status, "capture: device hw:9 disappeared")
        XCTAssertTrue(m.statusIsError)
        // It stays in the conversation as a line of its own, once.
        XCTAssertEqual(m.entries.last, .init(.error, "capture: device hw:9 disappeared"))
        m.apply(.error("capture: device hw:9 disappeared"))
        XCTAssertEqual(m.entries.filter { $0.speaker == .error }.count, 1)
    }
}

final class ScreenModelModeTests: XCTestCase {
    /// Waiting for the user and working look different: only hands-free listens by itself.
    func testRestingStateSaysWhoIsWaiting() {
        var m = ScreenModel()
        m.mode = .pushToTalk
        m.apply(.state(.listening))
        XCTAssertEqual(m.activity, .idle)
        XCTAssertFalse(m.activity.isWorking)
        m.apply(.state(.thinking))
        XCTAssertTrue(m.activity.isWorking)
        m.mode = .handsFree
        m.apply(.state(.listening))
        XCTAssertEqual(m.activity, .listening)
        m.muted = true
        m.apply(.state(.listening))
        XCTAssertEqual(m.activity, .muted)
        m.mode = .typed
        m.apply(.state(.listening))
        XCTAssertEqual(m.activity, .idle)
    }

    func testEveryModeHasItsKeyHelp() {
        var m = ScreenModel()
        for mode in ScreenModel.Mode.allCases {
            m.mode = mode
            XCTAssertFalse(m.helpLine.isEmpty, "\(mode)")
        }
        m.mode = .typed
        XCTAssertTrue(m.helpLine.contains("Enter send"))
        m.mode = .playback
        XCTAssertTrue(m.helpLine.contains("q stop"))
    }
}

final class TypedTurnLatencyTests: XCTestCase {
    func testATypedTurnsLatencyRunsFromEnterWithoutASpeechStage() {
        var m = ScreenModel()
        m.mode = .typed
        m.typedTurn = true
        m.apply(.transcript("hello"))
        m.apply(.timing(.transcript, 0))
        m.apply(.timing(.firstToken, 0.5))
        XCTAssertEqual(m.latency, "Enter → first token 0.50 s")
        var record = TurnRecord(turn: 1, started: Date(), input: .typed, transcript: "hello", reply: "Hi.", spoken: "Hi.",
                                interrupted: false, timings: TurnTimings(), error: nil)
        record.timings.transcript = 0; record.timings.firstToken = 0.5; record.timings.firstAudio = 0.9
        m.apply(.turnFinished(record))
        XCTAssertEqual(m.latency, "Enter → first token 0.50 s · → first audio 0.90 s")
        XCTAssertFalse(m.typedTurn)
        XCTAssertEqual(m.activity, .idle)
    }
}

final class DictatedLineTests: XCTestCase {
    /// Dictated words are their own kind of line: labelled on screen and in a saved transcript, never "you".
    func testDictatedLinesAreLabelledOnScreenAndInTheSavedTranscript() {
        var m = ScreenModel()
        m.mode = .dictation
        m.add(.dictated, "what time is it")
        XCTAssertEqual(m.transcriptLines(width: 80).map(\.1), ["dictated › what time is it"])
        XCTAssertEqual(m.transcriptText, "dictated: what time is it\n")
        XCTAssertTrue(m.helpLine.hasPrefix("Space dictate/stop · Tab mode"), m.helpLine)
        XCTAssertEqual(m.restingActivity, .idle, "dictation waits for Space, it does not listen by itself")
    }

    /// Tab goes through the conversation's three modes, then dictation when the front end offers it.
    func testTabOrder() {
        XCTAssertEqual(ConversationFrontEnd.modes(dictation: true), [.handsFree, .pushToTalk, .typed, .dictation])
        XCTAssertEqual(ConversationFrontEnd.modes(dictation: false), [.handsFree, .pushToTalk, .typed])
    }
}
