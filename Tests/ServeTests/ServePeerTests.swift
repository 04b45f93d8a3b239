import Foundation
import XCTest

/// `confab serve` against real peers: the official `openai` Python client, raw HTTP from Python (bad input),
/// and the `wyoming` package's client. One server (small models, key "test-key", 2 MiB uploads, queue depth 2)
/// for the whole class.
final class ServePeerTests: XCTestCase {
    nonisolated(unsafe) static var server: ServeProcess?
    nonisolated(unsafe) static var startError: Error?

    override class func setUp() {
        super.setUp()
        do { server = try ServeProcess(extra: ["--max-upload-mb", "2", "--queue-depth", "2"]) } catch { startError = error }
    }

    override class func tearDown() {
        server?.stop()
        super.tearDown()
    }

    func serve() throws -> ServeProcess {
        if let e = Self.startError { throw e }
        return try XCTUnwrap(Self.server)
    }

    func openai(_ scenario: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let s = try serve()
        return try assertPeer("openai_client.py", [s.baseURL, s.key, scenario], file: file, line: line)
    }

    func raw(_ scenario: String, _ extra: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let s = try serve()
        return try assertPeer("raw_http.py", ["127.0.0.1", "\(s.port)", s.key, scenario] + extra, file: file, line: line)
    }

    func wyoming(_ scenario: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let s = try serve()
        return try assertPeer("wyoming_client.py", ["127.0.0.1", "\(try XCTUnwrap(s.wyomingPort))", scenario], file: file, line: line)
    }

    // MARK: the openai package

    func testModelsAreListed() throws {
        XCTAssertEqual(try openai("models").count, 1)
    }

    func testSpeechTranscribesBackInEveryFormat() throws {
        let oks = try openai("speech_roundtrip")
        for f in ["json", "text", "verbose_json", "srt", "vtt", "flac upload", "pcm"] {
            XCTAssertTrue(oks.contains { $0.hasPrefix("ok: \(f)") }, "no \(f) check in \(oks)")
        }
    }

    func testChatCompletion() throws {
        let oks = try openai("chat")
        XCTAssertTrue(oks.contains { $0.hasPrefix("ok: stop") }, "\(oks)")
    }

    func testChatCompletionStreamed() throws {
        XCTAssertEqual(try openai("chat_stream").count, 1)
    }

    func testErrorsAsTheClientSeesThem() throws {
        let oks = try openai("errors")
        XCTAssertGreaterThanOrEqual(oks.count, 10, "\(oks)")
    }

    // MARK: bad input

    func testMalformedMultipart() throws { XCTAssertEqual(try raw("multipart").count, 4) }

    func testWrongContentTypes() throws { XCTAssertEqual(try raw("content_type").count, 5) }

    func testOversizedBodies() throws { XCTAssertEqual(try raw("oversized").count, 3) }

    func testClientDisconnectsMidStream() throws {
        XCTAssertEqual(try raw("disconnect").count, 3)
        let log = try serve().stderr
        XCTAssertNotNil(log.wait(10) { $0.contains("the response broke off") ? true : nil },
                        "no log line for the abandoned stream: \(log.all.suffix(2000))")
    }

    func testHundredConcurrentRequestsSomeGet429() throws {
        let s = try serve()
        XCTAssertEqual(try raw("concurrent", ["\(s.process.processIdentifier)"]).count, 1)
        XCTAssertTrue(s.stderr.all.contains("POST /v1/chat/completions 429"), "429s are logged")
    }

    func testWrongKey() throws { XCTAssertEqual(try raw("wrong_key").count, 1) }

    /// One line per request, with method, path, status and time.
    func testOneLogLinePerRequest() throws {
        let s = try serve()
        let before = s.stderr.all.components(separatedBy: "GET /v1/models ").count
        _ = try raw("wrong_key")
        let lines = s.stderr.wait(10) { text -> [String]? in
            let l = text.split(separator: "\n").filter { $0.contains("GET /v1/models 401") }
            return l.count >= 4 ? l.map(String.init) : nil
        }
        XCTAssertNotNil(lines, s.stderr.all.suffix(1500).description)
        XCTAssertEqual(s.stderr.all.components(separatedBy: "GET /v1/models ").count - before, 4)
    }

    // MARK: the wyoming package

    func testWyomingDescribe() throws { XCTAssertEqual(try wyoming("describe").count, 1) }

    func testWyomingSynthesizeThenTranscribe() throws { XCTAssertEqual(try wyoming("roundtrip").count, 3) }

    func testWyomingBadInput() throws { XCTAssertEqual(try wyoming("bad").count, 4) }
}
