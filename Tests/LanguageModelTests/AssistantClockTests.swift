import XCTest
@testable import Engine

/// Date and time answers come from a clock the test fixes: what the model is told, and where (the cached prefix
/// changes only with the date), and the real model's answers to "what time is it" and "what day is it today".
final class AssistantClockTests: XCTestCase {
    // Saturday, 5 December 2026, 09:41 in Berlin (08:41 UTC).
    static let fixed = AssistantClock(now: { Date(timeIntervalSince1970: 1_796_460_060) }, timeZone: TimeZone(identifier: "Europe/Berlin")!)

    func testDateInTheSystemPromptAndTimeOnlyInQuestionsAboutIt() {
        let c = Self.fixed
        XCTAssertEqual(c.systemPrompt("Be brief."), "Be brief. Today is Saturday, December 5, 2026.")
        let q = c.prompt("What time is it?")
        XCTAssertTrue(q.hasPrefix("What time is it?\n(Local time: 9:41 AM, "), q)
        XCTAssertTrue(q.contains("Europe/Berlin"), q)
        XCTAssertEqual(c.prompt("Who wrote Romeo and Juliet?"), "Who wrote Romeo and Juliet?")
        for s in ["What's the time?", "Is it late?", "How many hours until midnight?", "Is it morning in Tokyo?"] {
            XCTAssertTrue(AssistantClock.isAboutTime(s), s)
        }
        // The date is in the system prompt: questions about it, and everyday ones with calendar words, get no note.
        for s in ["What is the capital of France?", "Tell me a joke.", "Sometimes I wonder.", "What is seven times eight?",
                  "What color is the sky on a clear day?", "How many days are there in a week?", "What day is it today?"] {
            XCTAssertFalse(AssistantClock.isAboutTime(s), s)
        }
        // A minute later the system prompt, and so the cached prefix, is the same.
        let later = AssistantClock(now: { Date(timeIntervalSince1970: 1_796_460_060 + 60) }, timeZone: c.timeZone)
        XCTAssertEqual(later.systemPrompt("Be brief."), c.systemPrompt("Be brief."))
    }

    func testTheDefaultModelAnswersFromTheFixedClock() throws {
        EngineThreads.configure(nil)
        let c = Self.fixed
        let g = try LlamaGenerator(model: nil, contextLimit: 1024, sampling: .greedy, systemPrompt: c.systemPrompt(defaultSpokenSystemPrompt))
        g.sampling.maxTokens = 40
        var a = ""
        try g.generate([ChatMessage(.user, c.prompt("What time is it?"))]) { a += $0 }
        XCTAssertTrue(a.range(of: #"\b9:41\b"#, options: .regularExpression) != nil, a)
        var b = ""
        try g.generate([ChatMessage(.user, c.prompt("What day is it today?"))]) { b += $0 }
        XCTAssertTrue(b.contains("Saturday"), b)
    }
}
