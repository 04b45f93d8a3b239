import Engine
import Foundation
@testable import RemoteLM
import XCTest

/// Confab's OpenAI-compatible client (`--llm-url`) against `confab serve` itself, and against a Python server
/// that misbehaves on purpose (each fault one clear error; the turn ends; the next one works).
final class RemoteClientTests: XCTestCase {
    nonisolated(unsafe) static var server: ServeProcess?
    nonisolated(unsafe) static var fake: (Process, LineReader, Int)?
    nonisolated(unsafe) static var startError: Error?

    override class func setUp() {
        super.setUp()
        do {
            server = try ServeProcess(wyoming: false)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try peersPython())
            p.arguments = [peersDir.appendingPathComponent("fake_openai.py").path]
            let out = Pipe()
            p.standardOutput = out; p.standardInput = FileHandle.nullDevice
            let reader = LineReader(out.fileHandleForReading)
            try p.run()
            guard let port = reader.wait(30, { t -> Int? in
                guard let r = t.range(of: "port ") else { return nil }
                return Int(t[r.upperBound...].prefix { $0.isNumber })
            }) else { throw HarnessError("the fake server did not start") }
            fake = (p, reader, port)
        } catch { startError = error }
    }

    override class func tearDown() {
        server?.stop()
        if let (p, _, _) = fake { p.terminate(); p.waitUntilExit() }
        super.tearDown()
    }

    func serve() throws -> ServeProcess {
        if let e = Self.startError { throw e }
        return try XCTUnwrap(Self.server)
    }

    func fakeURL(_ fault: String) throws -> String {
        if let e = Self.startError { throw e }
        return "http://127.0.0.1:\(try XCTUnwrap(Self.fake).2)/\(fault)/v1"
    }

    func generator(_ url: String, model: String? = "smollm2-135m", key: String? = "test-key",
                   firstByte: Double = 30, maxTokens: Int? = 24) throws -> RemoteChatGenerator {
        var s = RemoteChatSettings(url: url, model: model, apiKey: key)
        s.firstByteTimeout = firstByte
        s.connectTimeout = 2
        s.maxTokens = maxTokens
        s.temperature = 0
        return try RemoteChatGenerator(s)
    }

    func collect(_ g: RemoteChatGenerator, _ text: String = "What is two plus two?") async throws -> [String] {
        var pieces: [String] = []
        for try await p in g.reply(to: [ChatMessage(.user, text)]) { pieces.append(p) }
        return pieces
    }

    func expectError(_ g: RemoteChatGenerator, _ kind: RemoteLMError.Kind, _ contains: String,
                     file: StaticString = #filePath, line: UInt = #line) async {
        do {
            let got = try await collect(g)
            XCTFail("expected \(kind), got a reply \(got)", file: file, line: line)
        } catch let e as RemoteLMError {
            XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
            XCTAssertTrue(e.message.contains(contains), "'\(e.message)' lacks '\(contains)'", file: file, line: line)
            XCTAssertFalse(e.message.contains("\n"), "one line: \(e.message)", file: file, line: line)
        } catch {
            XCTFail("expected RemoteLMError.\(kind), got \(type(of: error)): \(error)", file: file, line: line)
        }
    }

    // MARK: against confab serve

    func testStreamsAReplyFromConfabServe() async throws {
        let s = try serve()
        let g = try generator(s.baseURL)
        let pieces = try await collect(g)
        XCTAssertGreaterThanOrEqual(pieces.count, 2, "streamed in pieces: \(pieces)")
        XCTAssertFalse(pieces.joined().trimmingCharacters(in: .whitespaces).isEmpty)
        let st = g.lastStats
        XCTAssertGreaterThan(st.timeToFirstToken, 0)
        XCTAssertLessThanOrEqual(st.timeToFirstByte, st.timeToFirstToken)
        XCTAssertNotNil(st.finishReason)
        // A follow-up turn with the history, as the conversation sends it.
        var history = [ChatMessage(.user, "What is two plus two?"), ChatMessage(.assistant, pieces.joined())]
        history.append(ChatMessage(.user, "And three plus three?"))
        var second = ""
        for try await p in g.reply(to: history) { second += p }
        XCTAssertFalse(second.isEmpty)
    }

    func testModelFromTheServersListWhenNotGiven() async throws {
        let s = try serve()
        let g = try generator(s.baseURL, model: nil)
        let model = try await g.model()
        XCTAssertEqual(model, "smollm2-135m", "the first model /v1/models lists (chat models come first)")
    }

    func testWrongKeyUnknownModelAndServerDown() async throws {
        let s = try serve()
        await expectError(try generator(s.baseURL, key: "nope"), .unauthorized, "401")
        await expectError(try generator(s.baseURL, model: "llama-9000"), .unknownModel, "llama-9000")
        await expectError(try generator("http://127.0.0.1:9/v1"), .unreachable, "127.0.0.1:9")
    }

    /// Barge-in: the consumer stops after the first piece; the HTTP request is cancelled, so the server's
    /// model is free again at once (its log shows the stream broke off).
    func testCancellingTheConsumerCancelsTheRequest() async throws {
        let s = try serve()
        let g = try generator(s.baseURL, maxTokens: 3000)
        let task = Task { () -> Int in
            var n = 0
            for try await _ in g.reply(to: [ChatMessage(.user, "Write a very long story about the sea.")]) {
                n += 1
                if n == 2 { break }
            }
            return n
        }
        let n = try await task.value
        XCTAssertEqual(n, 2)
        XCTAssertNotNil(s.stderr.wait(15) { $0.contains("POST /v1/chat/completions 200") && $0.contains("the response broke off") ? true : nil },
                        "the server did not see the request end early: \(s.stderr.all.suffix(1500))")
        let t0 = Date()
        _ = try await collect(try generator(s.baseURL, maxTokens: 4))
        XCTAssertLessThan(Date().timeIntervalSince(t0), 15, "the model was still busy with the cancelled reply")
    }

    // MARK: against a misbehaving server

    func testEachFaultIsOneClearError() async throws {
        let ok = try generator(try fakeURL("ok"), model: nil)
        let text = try await collect(ok).joined()
        XCTAssertEqual(text, "Hello there, model fake-model.")
        await expectError(try generator(try fakeURL("401")), .unauthorized, "refused the API key (401): Incorrect API key provided")
        await expectError(try generator(try fakeURL("404")), .unknownModel, "unknown model 'smollm2-135m'")
        await expectError(try generator(try fakeURL("429")), .rateLimited, "429")
        await expectError(try generator(try fakeURL("500")), .serverError, "503")
        await expectError(try generator(try fakeURL("malformed")), .malformedStream, "not JSON")
        await expectError(try generator(try fakeURL("truncated")), .truncatedStream, "ended mid-reply")
        await expectError(try generator(try fakeURL("drop")), .connectionDropped, "broke off")
        await expectError(try generator(try fakeURL("html")), .malformedStream, "not server-sent events")
        await expectError(try generator(try fakeURL("slow"), firstByte: 1), .timeout, "no answer within 1 s")
        await expectError(try generator(try fakeURL("stall"), firstByte: 1), .timeout, "stopped sending")
    }

    func testCancelStopsAnEndlessStream() async throws {
        let g = try generator(try fakeURL("endless"))
        var n = 0
        for try await _ in g.reply(to: [ChatMessage(.user, "go")]) { n += 1; if n == 5 { break } }
        let reader = try XCTUnwrap(Self.fake).1
        XCTAssertNotNil(reader.wait(10) { $0.contains("endless: client went away") ? true : nil }, reader.all)
    }

    // MARK: the command line

    func testAskAndChatWithLLMURL() throws {
        let s = try serve()
        let bin = try confabBinary()
        func run(_ args: [String], env: [String: String], stdin: String? = nil) throws -> (Int32, String, String) {
            let p = Process()
            p.executableURL = bin
            p.arguments = args
            var e = ProcessInfo.processInfo.environment
            e.removeValue(forKey: "OPENAI_API_KEY"); e.removeValue(forKey: "CONFAB_API_KEY")
            e.merge(env) { _, n in n }
            p.environment = e
            let out = Pipe(), err = Pipe(), inp = Pipe()
            p.standardOutput = out; p.standardError = err
            p.standardInput = stdin == nil ? FileHandle.nullDevice : inp
            let o = LineReader(out.fileHandleForReading), r = LineReader(err.fileHandleForReading)
            try p.run()
            if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)); try inp.fileHandleForWriting.close() }
            p.waitUntilExit()
            _ = o.wait(5) { _ in nil as Int? }; _ = r.wait(5) { _ in nil as Int? }
            return (p.terminationStatus, o.all, r.all)
        }
        let remote = ["--llm-url", s.baseURL, "--llm-model", "smollm2-135m", "--max-tokens", "12", "--temperature", "0"]
        let (st, out, err) = try run(["ask"] + remote + ["Hello, who are you?"], env: ["CONFAB_API_KEY": s.key])
        XCTAssertEqual(st, 0, err)
        XCTAssertFalse(out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "no answer")
        // OPENAI_API_KEY works too; --json gives the remote timings.
        let (st2, out2, err2) = try run(["ask", "--json"] + remote + ["Hi"], env: ["OPENAI_API_KEY": s.key])
        XCTAssertEqual(st2, 0, err2)
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out2.utf8)) as? [String: Any], out2)
        XCTAssertNotNil(o["answer"] as? String); XCTAssertNotNil(o["time_to_first_token_s"] as? Double)
        // A wrong key: one line, exit 1.
        let (st3, _, err3) = try run(["ask"] + remote + ["Hi"], env: ["CONFAB_API_KEY": "wrong"])
        XCTAssertEqual(st3, 1)
        XCTAssertEqual(err3.split(separator: "\n").count, 1, err3)
        XCTAssertTrue(err3.contains("refused the API key (401)"), err3)
        // chat: a server that is down gives one line per turn and the conversation goes on to the end of input.
        let (st4, _, err4) = try run(["chat", "--llm-url", "http://127.0.0.1:9/v1", "--llm-model", "x"], env: [:], stdin: "hello\nagain\n")
        XCTAssertEqual(st4, 0, err4)
        XCTAssertEqual(err4.split(separator: "\n").filter { $0.contains("cannot reach 127.0.0.1:9") }.count, 2, err4)
        // chat against the server: two turns answered.
        let (st5, out5, err5) = try run(["chat"] + remote, env: ["CONFAB_API_KEY": s.key], stdin: "Hi\nBye\n")
        XCTAssertEqual(st5, 0, err5)
        XCTAssertGreaterThanOrEqual(out5.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count, 2, out5)
        XCTAssertFalse(err5.contains("confab:"), err5)
    }
}
