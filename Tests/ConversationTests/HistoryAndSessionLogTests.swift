import Engine
import XCTest

final class HistoryAndSessionLogTests: XCTestCase {
    func testTruncationDropsOldestTurnsAndKeepsTheSystemPrompt() {
        // One token per word, to make the budget arithmetic exact.
        let words: @Sendable (String) -> Int = { $0.split(separator: " ").count }
        var h = ConversationHistory(systemPrompt: "be brief", budget: 20, lowWater: 0.75, tokenCount: words)
        h.append(user: "one two three", assistant: "four five")          // 2 + 5 = 7
        h.append(user: "six seven", assistant: "eight")                  // 10
        h.append(user: "nine ten", assistant: "eleven twelve")           // 14
        XCTAssertEqual(h.exchanges.count, 3)
        // A 7-word question does not fit (14 + 7 > 20): drop oldest down to ≤ 15 with it (21 → 16 → 13).
        let m = h.messages(adding: "a b c d e f g")
        XCTAssertEqual(m.first, ChatMessage(.system, "be brief"))
        XCTAssertEqual(m.last, ChatMessage(.user, "a b c d e f g"))
        XCTAssertEqual(h.exchanges.map(\.user), ["nine ten"])
        XCTAssertEqual(m.count, 1 + 2 + 1)
        // 2 + 4 + 15 = 21 > 20: the older exchange goes; the newest (17 with the prompt) fits and stays.
        h.append(user: "a b c d e f g", assistant: "h i j k l m n o")
        XCTAssertEqual(h.exchanges.map(\.user), ["a b c d e f g"])
        XCTAssertEqual(h.systemPrompt, "be brief")
        // An exchange that alone exceeds the budget is not kept.
        h.append(user: String(repeating: "w ", count: 30), assistant: "x")
        XCTAssertTrue(h.exchanges.isEmpty)
        h.clear()
        XCTAssertTrue(h.exchanges.isEmpty)
        XCTAssertEqual(h.messages(adding: "hi"), [ChatMessage(.system, "be brief"), ChatMessage(.user, "hi")])
    }

    /// With room kept for the next question, the history is trimmed when an exchange is added (right after a reply,
    /// so the model prefills the shorter history in the background), and the next question then fits as it is.
    func testTrimmingHappensAfterTheReplyWithRoomForTheNextQuestion() {
        let words: @Sendable (String) -> Int = { $0.split(separator: " ").count }
        var h = ConversationHistory(systemPrompt: "be brief", budget: 20, lowWater: 0.75, nextMessageReserve: 4, tokenCount: words)
        h.append(user: "one two three", assistant: "four five")          // 2 + 5 = 7 (+ 4 reserved)
        h.append(user: "six seven", assistant: "eight")                  // 10 (+ 4)
        XCTAssertEqual(h.exchanges.count, 2)
        h.append(user: "nine ten", assistant: "eleven twelve")           // 14 (+ 4 = 18 ≤ 20)
        XCTAssertEqual(h.exchanges.count, 3)
        h.append(user: "a b", assistant: "c d")                          // 18 + 4 = 22 > 20: down to ≤ 15 (22 → 17 → 14)
        XCTAssertEqual(h.exchanges.map(\.user), ["nine ten", "a b"])
        let before = h.exchanges
        _ = h.messages(adding: "what now")                               // 10 + 2 = 12 ≤ 20: nothing dropped
        XCTAssertEqual(h.exchanges, before)
    }

    func testPipelineHistoryTruncationAndClearing() async throws {
        let gen = FakeGenerator((0..<5).map { .init(text: "Answer number \($0) is here.") })
        var config = ConversationConfiguration(transcriber: FakeTranscriber([]), generator: gen, synthesizer: FakeSynthesizer(secondsPerWord: 0.01))
        config.systemPrompt = "system prompt"
        config.clock = nil  // the token arithmetic below counts the bare prompt
        config.historyBudget = 30
        config.tokenCount = { $0.split(separator: " ").count }
        let conversation = try Conversation(config, capture: nil, playback: InstantSink())
        let events = EventCollector(conversation)
        for i in 0..<4 {
            conversation.submit("question number \(i) please")
            _ = await events.waitForTurns(i + 1)
        }
        // Each exchange is 4 + 5 = 9 tokens, the system prompt 2: at the fourth question only the newest fit.
        let last = gen.received[3]
        XCTAssertEqual(last.first, ChatMessage(.system, "system prompt"))
        XCTAssertEqual(last.last, ChatMessage(.user, "question number 3 please"))
        XCTAssertFalse(last.contains(ChatMessage(.user, "question number 0 please")), "oldest turn kept")
        XCTAssertTrue(last.contains(ChatMessage(.assistant, "Answer number 2 is here.")), "newest turn dropped")
        conversation.clearHistory()
        conversation.submit("fresh start")
        _ = await events.waitForTurns(5)
        await conversation.stop()
        XCTAssertEqual(gen.received[4], [ChatMessage(.system, "system prompt"), ChatMessage(.user, "fresh start")])
    }

    /// The log is written and synced as each turn finishes, before the next begins: reading the file
    /// while the conversation is still running (no close, no flush from here) — which is what a kill
    /// would leave — shows every finished turn as a complete line.
    func testSessionLogIsCompleteAfterEachTurn() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("confab-log-\(UUID().uuidString).jsonl").path
        let gen = FakeGenerator([.init(text: "First answer."), .init(text: "Second answer."),
                                 .init(text: "A third answer that is slow to write and will never finish.", slowAfter: 2, slowDelay: .seconds(5))])
        var config = ConversationConfiguration(transcriber: FakeTranscriber([]), generator: gen, synthesizer: FakeSynthesizer(secondsPerWord: 0.01))
        config.sessionLogPath = path
        let conversation = try Conversation(config, capture: nil, playback: InstantSink())
        let events = EventCollector(conversation)
        conversation.submit("first question")
        _ = await events.waitForTurns(1)
        var logged = try SessionLog.read(path)
        XCTAssertEqual(logged.map(\.transcript), ["first question"])
        conversation.submit("second question")
        _ = await events.waitForTurns(2)
        // A third turn is in progress (the model is mid-reply) when we look: the file must hold exactly
        // the two finished turns, each a whole JSON line.
        conversation.submit("third question")
        await events.wait("third reply started") { $0.contains(.transcript("third question")) }
        let raw = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(raw.hasSuffix("\n"))
        logged = try SessionLog.read(path)
        XCTAssertEqual(logged.map(\.transcript), ["first question", "second question"])
        XCTAssertEqual(logged.map(\.reply), ["First answer.", "Second answer."])
        XCTAssertEqual(logged.map(\.turn), [1, 2])
        XCTAssertNotNil(logged.first?.timings.firstToken)
        XCTAssertNotNil(logged.first?.timings.firstAudio)
        await conversation.stop()
        // Stopping mid-reply logs the cut-off third turn too.
        logged = try SessionLog.read(path)
        XCTAssertEqual(logged.count, 3)
        XCTAssertEqual(logged.last?.interrupted, true)
    }
}
