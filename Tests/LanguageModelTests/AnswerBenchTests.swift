import ConfabTestSupport
import Foundation
import XCTest
@testable import Engine

/// `confab bench answers`: the checks of a reply against a question's accepted answers and against a fixed clock,
/// the question-set file's errors, and the command itself on a small fixture set, typed and spoken, with the real
/// default models.
final class AnswerBenchTests: XCTestCase {
    // Saturday, 5 December 2026, 09:41 in Berlin (08:41 UTC).
    let clock = AssistantClock(now: { Date(timeIntervalSince1970: 1_796_460_060) }, timeZone: TimeZone(identifier: "Europe/Berlin")!)
    var asked: Date { clock.now() }

    func question(_ json: String) throws -> AnswerSet.Question {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("answers-\(UUID().uuidString).json")
        try Data(#"{"questions": [\#(json)]}"#.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try XCTUnwrap(AnswerSet.load(url.path).questions.first)
    }

    func testAcceptAndRejectPatterns() throws {
        let q = try question(#"{"q": "How many legs does a spider have?", "accept": ["\\b(eight|8)\\b"], "reject": ["\\bsix\\b"]}"#)
        XCTAssertTrue(q.isRight("A spider has eight legs.", askedAt: asked, clock: clock))
        XCTAssertTrue(q.isRight("SPIDERS HAVE 8 LEGS", askedAt: asked, clock: clock))
        XCTAssertFalse(q.isRight("A spider has four legs.", askedAt: asked, clock: clock))
        XCTAssertFalse(q.isRight("Eighty.", askedAt: asked, clock: clock))
        XCTAssertFalse(q.isRight("Eight, or six when young.", askedAt: asked, clock: clock))
    }

    func testClockAnswersAgainstTheMomentAsked() throws {
        let time = try question(#"{"q": "What time is it?", "clock": "time"}"#)
        for right in ["It's 9:41 AM.", "It is 09:42 in Berlin.", "9:40 a.m.", "The time is 9:41."] {
            XCTAssertTrue(time.isRight(right, askedAt: asked, clock: clock), right)
        }
        for wrong in ["It is 9:41 PM.", "It's 21:41.", "It is 10:15.", "It is morning.", "9:45 AM"] {
            XCTAssertFalse(time.isRight(wrong, askedAt: asked, clock: clock), wrong)
        }
        let weekday = try question(#"{"q": "What day is it today?", "clock": "weekday"}"#)
        XCTAssertTrue(weekday.isRight("Today is Saturday.", askedAt: asked, clock: clock))
        XCTAssertFalse(weekday.isRight("It's Saturday or Sunday.", askedAt: asked, clock: clock))
        XCTAssertFalse(weekday.isRight("Friday.", askedAt: asked, clock: clock))
        let date = try question(#"{"q": "What is today's date?", "clock": "date"}"#)
        for right in ["Today is Saturday, December 5, 2026.", "It's the 5th of December.", "12/5/2026", "2026-12-05", "December 5th"] {
            XCTAssertTrue(date.isRight(right, askedAt: asked, clock: clock), right)
        }
        for wrong in ["December 6, 2026", "December 15", "It is a Saturday in December.", "5/12/2026"] {
            XCTAssertFalse(date.isRight(wrong, askedAt: asked, clock: clock), wrong)
        }
        let month = try question(#"{"q": "What month is it?", "clock": "month"}"#)
        XCTAssertTrue(month.isRight("It is December.", askedAt: asked, clock: clock))
        XCTAssertFalse(month.isRight("It is November.", askedAt: asked, clock: clock))
        let year = try question(#"{"q": "What year is it?", "clock": "year"}"#)
        XCTAssertTrue(year.isRight("It's 2026.", askedAt: asked, clock: clock))
        XCTAssertFalse(year.isRight("It's 2025.", askedAt: asked, clock: clock))
        XCTAssertFalse(year.isRight("It's 20260.", askedAt: asked, clock: clock))
    }

    func testBadSetFilesAreOneLineErrorsNamingTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("answers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(String, String)] = [
            ("{", "not a question set"),
            (#"{"questions": []}"#, "no questions"),
            (#"{"questions": [{"q": "Why?"}]}"#, "neither accept patterns nor a clock check"),
            (#"{"questions": [{"q": "Why?", "accept": ["(unclosed"]}]}"#, "bad pattern (unclosed"),
            (#"{"questions": [{"q": "When?", "clock": "century"}]}"#, "not a question set"),
            (#"{"questions": [{"q": "  ", "accept": ["x"]}]}"#, "question 1 is empty"),
        ]
        for (i, (text, problem)) in cases.enumerated() {
            let path = dir.appendingPathComponent("set\(i).json").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try AnswerSet.load(path)) { e in
                let s = "\(e)"
                XCTAssertTrue(s.hasPrefix(path + ":") && s.contains(problem) && !s.contains("\n"), s)
            }
        }
        XCTAssertThrowsError(try AnswerSet.load(dir.appendingPathComponent("missing.json").path)) { e in
            XCTAssertTrue("\(e)".contains("missing.json: cannot read"), "\(e)")
        }
    }

    func testTheBuiltInSetHasEnoughQuestionsAndClockChecks() throws {
        let set = try AnswerSet.builtIn()
        XCTAssertGreaterThanOrEqual(set.questions.filter { $0.clock == nil }.count, 60)
        XCTAssertEqual(Set(set.questions.compactMap(\.clock)), Set(AnswerSet.ClockAnswer.allCases))
        XCTAssertEqual(Set(set.questions.map(\.text)).count, set.questions.count, "a question is listed twice")
    }

    // MARK: The command, on the fixture set, with the real default models

    struct Output: Decodable {
        struct Run: Decodable {
            struct Answer: Decodable { var question: String; var heard: String?; var reply: String; var right: Bool }
            var model: String; var mode: String; var right: Int; var total: Int; var answers: [Answer]
        }
        var runs: [Run]
    }

    func testBenchAnswersCountsRightRepliesTypedAndSpoken() throws {
        let set = try XCTUnwrap(Bundle.module.url(forResource: "answers-mini", withExtension: "json", subdirectory: "Fixtures")).path
        let r = try ConfabProcess.run(["bench", "answers", "--set", set, "--mode", "typed,piper,espeak", "--greedy", "--json"])
        XCTAssertEqual(r.status, 0, r.err)
        let out = try JSONDecoder().decode(Output.self, from: Data(r.out.utf8))
        XCTAssertEqual(out.runs.map(\.mode), ["typed", "piper", "espeak"])
        for run in out.runs {
            XCTAssertEqual(run.model, DefaultLanguageModel.currentName)
            XCTAssertEqual(run.total, 4)
            // France and the year are right; the sky is never "green", and Tokyo is rejected on purpose.
            XCTAssertEqual(run.answers.map(\.right), [true, true, false, false], "\(run.mode): \(run.answers.map(\.reply))")
            XCTAssertEqual(run.right, 2)
            XCTAssertTrue(run.answers[3].reply.lowercased().contains("tokyo"), run.answers[3].reply)
            if run.mode == "typed" {
                XCTAssertNil(run.answers[0].heard)
            } else {
                XCTAssertTrue(run.answers[0].heard?.lowercased().contains("capital of france") ?? false, "\(run.answers[0].heard ?? "nothing heard")")
            }
        }
        let bad = try ConfabProcess.run(["bench", "answers", "--set", set, "--mode", "typed,sung"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("unknown mode 'sung'"), bad.err)
        let voice = try ConfabProcess.run(["bench", "answers", "--set", set, "--mode", "espeak", "--espeak-voices", "xx-none"])
        XCTAssertEqual(voice.status, 1)
        XCTAssertEqual(voice.err, "confab: --espeak-voices: espeak-ng: unknown voice 'xx-none' (`espeak-ng --voices=en` lists the voices; add a variant as in en-us+f3)\n")
    }
}
