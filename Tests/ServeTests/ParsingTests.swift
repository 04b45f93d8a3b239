import Foundation
@testable import RemoteLM
@testable import Serve
import XCTest

/// The parsers of untrusted bytes, on hand-made input: multipart bodies, server-sent events (Wyoming frames: ServeWireTests).
final class ParsingTests: XCTestCase {
    // MARK: multipart

    func body(_ parts: [(String, String?, String)], boundary: String = "b0undary") -> [UInt8] {
        var s = "preamble\r\n"
        for (name, filename, value) in parts {
            s += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\""
            if let filename { s += "; filename=\"\(filename)\"\r\nContent-Type: audio/wav" }
            s += "\r\n\r\n\(value)\r\n"
        }
        return Array((s + "--\(boundary)--\r\n").utf8)
    }

    func testMultipartParts() throws {
        let form = try MultipartForm(body: body([("model", nil, "whisper-1"), ("file", "a.wav", "RIFF\r\n--b0und not yet"), ("language", nil, "")]), boundary: "b0undary")
        XCTAssertEqual(form.parts.map(\.name), ["model", "file", "language"])
        XCTAssertEqual(form.field("model"), "whisper-1")
        XCTAssertEqual(form.part("file")?.filename, "a.wav")
        XCTAssertEqual(form.part("file")?.contentType, "audio/wav")
        XCTAssertEqual(form.part("file")?.text, "RIFF\r\n--b0und not yet")
        XCTAssertEqual(form.field("language"), "")
    }

    func testMultipartBoundaryFromContentType() throws {
        XCTAssertEqual(try MultipartForm.boundary(contentType: "multipart/form-data; boundary=\"abc def\""), "abc def")
        XCTAssertEqual(try MultipartForm.boundary(contentType: "Multipart/Form-Data;charset=utf-8; boundary=x"), "x")
        XCTAssertNil(try MultipartForm.boundary(contentType: "application/json"))
        XCTAssertThrowsError(try MultipartForm.boundary(contentType: "multipart/form-data"))
        XCTAssertThrowsError(try MultipartForm.boundary(contentType: "multipart/form-data; boundary=" + String(repeating: "x", count: 71)))
    }

    func testMalformedMultipartIsOneLineEach() {
        let cases: [(String, String)] = [
            ("", "no boundary line"),
            ("--b\r\nno colon here\r\n\r\nx\r\n--b--", "without ':'"),
            ("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nnever ends", "does not end"),
            ("--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "without a Content-Disposition name"),
            ("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n" + String(repeating: "X-Pad: y\r\n", count: 3000), "headers are longer"),
            ("--bjunk", "not followed by CRLF"),
            ("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n--b", "closing boundary"),
        ]
        for (text, want) in cases {
            XCTAssertThrowsError(try MultipartForm(body: Array(text.utf8), boundary: "b"), text) { e in
                XCTAssertTrue("\(e)".contains(want), "\(e) for \(text.prefix(40))")
                XCTAssertFalse("\(e)".contains("\n"))
            }
        }
        let many = (0..<70).map { "--b\r\nContent-Disposition: form-data; name=\"p\($0)\"\r\n\r\nv\r\n" }.joined() + "--b--"
        XCTAssertThrowsError(try MultipartForm(body: Array(many.utf8), boundary: "b")) { XCTAssertTrue("\($0)".contains("more than 64 parts")) }
    }

    /// Random bytes never crash the parser (and never take long).
    func testMultipartRandomBytes() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var bytes = Array("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".utf8)
            bytes += (0..<Int.random(in: 0..<400, using: &rng)).map { _ in [UInt8(ascii: "-"), UInt8(ascii: "b"), 13, 10, UInt8.random(in: 0...255, using: &rng)].randomElement(using: &rng)! }
            _ = try? MultipartForm(body: bytes, boundary: "b")
        }
    }

    // MARK: server-sent events

    func testStreamSplitAnywhere() throws {
        let stream = """
        : keep-alive\r
        data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\r
        \r
        data: {"choices":[{"index":0,"delta":{"content":"Grüß"}}]}

        data: {"choices":[{"index":0,"delta":{"content":" dich"},"finish_reason":null}]}

        data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}

        data: [DONE]


        """
        let bytes = Array(stream.utf8)
        for cut in stride(from: 1, to: bytes.count, by: 7) {
            var p = ChatStreamParser(host: "h")
            var events = try p.push(Array(bytes[..<cut]))
            events += try p.push(Array(bytes[cut...]))
            try p.finish()
            XCTAssertEqual(events.map(\.text).joined(), "Grüß dich")
            XCTAssertEqual(events.last?.finishReason, "stop")
            XCTAssertEqual(events.last?.completionTokens, 2)
            XCTAssertTrue(p.done)
        }
    }

    func testStreamFaults() throws {
        func run(_ s: String) throws { var p = ChatStreamParser(host: "h", eventLimit: 1000); _ = try p.push(Array(s.utf8)); try p.finish() }
        XCTAssertThrowsError(try run("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n")) { XCTAssertEqual(($0 as? RemoteLMError)?.kind, .truncatedStream) }
        XCTAssertThrowsError(try run("")) { XCTAssertTrue("\($0)".contains("before any reply")) }
        XCTAssertThrowsError(try run("data: nope\n\n")) { XCTAssertEqual(($0 as? RemoteLMError)?.kind, .malformedStream) }
        XCTAssertThrowsError(try run("data: {\"error\":{\"message\":\"out of memory\"}}\n\n")) { XCTAssertTrue("\($0)".contains("out of memory")) }
        XCTAssertThrowsError(try run("data: " + String(repeating: "x", count: 2000))) { XCTAssertTrue("\($0)".contains("longer than")) }
        XCTAssertThrowsError(try run("{\"whole\": true}\n")) { XCTAssertTrue("\($0)".contains("not server-sent events")) }
        // A finish without [DONE] is a complete reply.
        XCTAssertNoThrow(try run("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"))
    }

    func testCompletionsURL() throws {
        XCTAssertEqual(try RemoteChatGenerator.completionsURL("http://h:11434").absoluteString, "http://h:11434/v1/chat/completions")
        XCTAssertEqual(try RemoteChatGenerator.completionsURL("http://h:11434/v1/").absoluteString, "http://h:11434/v1/chat/completions")
        XCTAssertEqual(try RemoteChatGenerator.completionsURL("https://h/api/v1/chat/completions").absoluteString, "https://h/api/v1/chat/completions")
        XCTAssertThrowsError(try RemoteChatGenerator.completionsURL("ftp://h"))
        XCTAssertThrowsError(try RemoteChatGenerator.completionsURL("localhost:8080"))
        XCTAssertEqual(RemoteChatSettings.apiKeyFromEnvironment(["OPENAI_API_KEY": "b", "CONFAB_API_KEY": "a"]), "a")
        XCTAssertEqual(RemoteChatSettings.apiKeyFromEnvironment(["OPENAI_API_KEY": "b", "CONFAB_API_KEY": " "]), "b")
        XCTAssertNil(RemoteChatSettings.apiKeyFromEnvironment([:]))
    }
}
