import ConfabTestSupport
import Foundation
import XCTest

/// `confab bench e2e` as a soak: with --minutes it repeats the built-in spoken questions through the whole real chain
/// (Whisper, the language model, Piper, an ALSA null device) until the time is up, answering every one, and samples
/// the process's resident memory along the way.
final class BenchE2ECommandTests: XCTestCase {
    struct Output: Decodable {
        struct Sample: Decodable { var seconds: Double; var mb: Double }
        var questions: Int; var answered: Int; var seconds: Double; var underruns: Int; var xruns: Int
        var rss: [Sample]
    }

    func testSoakRunsForTheGivenMinutesAnsweringEveryQuestionAndSamplesMemory() throws {
        let r = try ConfabProcess.run(["bench", "e2e", "--minutes", "0.4", "--rss-every", "5", "--llm", "qwen2.5-coder-0.5b",
                            "--max-tokens", "24", "--json"])
        XCTAssertEqual(r.status, 0, r.err)
        let out = try JSONDecoder().decode(Output.self, from: Data(r.out.utf8))
        XCTAssertGreaterThanOrEqual(out.seconds, 24)
        XCTAssertGreaterThanOrEqual(out.questions, 2)            // more than one question in 24 s, however slow the machine
        XCTAssertEqual(out.answered, out.questions, r.out)
        XCTAssertEqual(out.xruns, 0)
        // a sample at the start, every 5 s, and one at the end; all with the models loaded
        XCTAssertGreaterThanOrEqual(out.rss.count, 5)
        XCTAssertEqual(out.rss.map(\.seconds), out.rss.map(\.seconds).sorted())
        XCTAssertGreaterThanOrEqual(out.rss.last?.seconds ?? 0, out.seconds - 1)
        for s in out.rss { XCTAssertGreaterThan(s.mb, 300, "RSS \(s.mb) MB with Whisper, the 0.5B and Piper loaded") }

        let bad = try ConfabProcess.run(["bench", "e2e", "--minutes", "0"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("--minutes must be > 0"), bad.err)
    }
}
