import AudioIO
import Foundation
import XCTest

/// `confab serve` against real peers: the official `openai` Python client, raw HTTP from Python (bad input),
/// and the `wyoming` package's client. One server (small models, key "test-key", 2 MiB uploads of at most 1 minute of
/// audio, queue depth 2) for the whole class.
final class ServePeerTests: XCTestCase {
    nonisolated(unsafe) static var server: ServeProcess?
    nonisolated(unsafe) static var startError: Error?

    override class func setUp() {
        super.setUp()
        do { server = try ServeProcess(extra: ["--max-upload-mb", "2", "--max-audio-minutes", "1", "--queue-depth", "2"]) } catch { startError = error }
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

    /// Small compressed uploads holding far more than a minute: refused by the header (FLAC, Ogg Vorbis) or, when the
    /// header does not give the length, while decoding; the server's memory stays put.
    func testUploadsLongerThanTheLimit() throws {
        let s = try serve()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("confab-long-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let flac = dir.appendingPathComponent("half-hour.flac"), unknown = dir.appendingPathComponent("no-length.flac")
        let ogg = dir.appendingPathComponent("ninety-seconds.ogg")
        try AudioFile.write(flac.path, samples: [Float](repeating: 0, count: 30 * 60 * 8000), sampleRate: 8000, format: .flac16)
        try Data(UploadLimitTests.flac(try [UInt8](Data(contentsOf: flac)), totalSamples: 0)).write(to: unknown)
        try UploadLimitTests.writeVorbis(ogg.path, samples: [Float](repeating: 0, count: 90 * 16000), sampleRate: 16000)
        XCTAssertEqual(try raw("long_audio", ["\(s.process.processIdentifier)", flac.path, unknown.path, ogg.path]).count, 4)
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
