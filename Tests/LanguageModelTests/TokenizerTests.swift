import XCTest
@testable import Engine

/// Golden ids from llama.cpp's tokenizer (scripts/llm_tokenizer_golden.py, committed as a fixture), round trips,
/// special tokens and streaming detokenization.
final class TokenizerTests: XCTestCase {
    struct Golden: Decodable {
        let strings: [String]
        let models: [String: Ids]
        struct Ids: Decodable { let plain: [[Int32]]; let special: [[Int32]] }
    }

    static func tokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer(gguf: GGUFFile(path: ModelStore().resolve(name, kind: .llm).path))
    }

    func testGoldenIdsMatchLlamaCpp() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "tokenizer_golden", withExtension: "json", subdirectory: "Fixtures"))
        let g = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
        XCTAssertEqual(g.models.count, 2)
        for (name, ids) in g.models {
            let tok = try Self.tokenizer(name)
            for (i, s) in g.strings.enumerated() {
                XCTAssertEqual(tok.encode(s, parseSpecial: false), ids.plain[i], "\(name) plain: \(s.debugDescription)")
                XCTAssertEqual(tok.encode(s, parseSpecial: true), ids.special[i], "\(name) special: \(s.debugDescription)")
            }
        }
    }

    func testRoundTripsArbitraryUTF8() throws {
        for name in ["qwen2.5-coder-0.5b", "smollm2-135m"] {
            let tok = try Self.tokenizer(name)
            var rng = TestRNG(42)
            var samples = ["", " ", "\n\n", "a\u{301}e\u{308}", "🧑🏾‍🚀 \u{200B}\u{FEFF}x", "\u{10FFFF}\u{E000}", "Tab\there\r\n"]
            // random strings over a mix of scripts, emoji, controls and combining marks
            let pools: [ClosedRange<UInt32>] = [0x20...0x7E, 0x0...0x1F, 0xA0...0x24F, 0x300...0x36F, 0x391...0x3C9,
                                               0x400...0x44F, 0x4E00...0x4FFF, 0x1F300...0x1F64F, 0xAC00...0xAD00]
            for _ in 0..<60 {
                var s = ""
                for _ in 0..<(1 + rng.int(40)) {
                    let p = pools[rng.int(pools.count)]
                    let v = p.lowerBound + UInt32(rng.int(Int(p.upperBound - p.lowerBound) + 1))
                    if let u = Unicode.Scalar(v) { s.unicodeScalars.append(u) }
                }
                samples.append(s)
            }
            // SmolLM2's vocabulary has no token for six C0 control bytes (4, 6, 19, 20, 22, 29); llama.cpp drops
            // them as well, nor for the lead bytes F1/F2 (planes 4-11, unassigned). Everything else round-trips.
            let missing = (0..<256).filter { tok.id(of: String(Tokenizer.byteToChar[$0])) == nil }
            XCTAssertTrue(missing.allSatisfy { $0 < 32 || $0 == 192 || $0 == 193 || $0 >= 241 }, "\(name): \(missing)")
            if name.hasPrefix("qwen") { XCTAssertEqual(missing, []) }
            for raw in samples {
                let s = String(String.UnicodeScalarView(raw.unicodeScalars.filter { u in !String(u).utf8.contains { missing.contains(Int($0)) } }))
                let ids = tok.encode(s)
                XCTAssertEqual(tok.decode(ids), s, "\(name): \(s.debugDescription)")
                // streaming gives the same text, and every piece is whole characters
                var dec = StreamingDecoder(tok)
                var streamed = ""
                for id in ids { streamed += dec.push(id) }
                streamed += dec.flush()
                XCTAssertEqual(streamed, s, "\(name) streamed: \(s.debugDescription)")
            }
        }
    }

    func testStreamingNeverSplitsACharacter() throws {
        let tok = try Self.tokenizer("qwen2.5-coder-0.5b")
        // Byte tokens: each byte of "é😀" as its own token.
        let bytes = Array("é😀".utf8)
        let ids = bytes.map { tok.id(of: String(Tokenizer.byteToChar[Int($0)]))! }
        var dec = StreamingDecoder(tok)
        var pieces: [String] = []
        for id in ids { pieces.append(dec.push(id)) }
        XCTAssertEqual(pieces, ["", "é", "", "", "", "😀"])
        XCTAssertEqual(dec.flush(), "")
    }

    func testSpecialTokens() throws {
        let tok = try Self.tokenizer("qwen2.5-coder-0.5b")
        let imStart = try XCTUnwrap(tok.id(of: "<|im_start|>")), imEnd = try XCTUnwrap(tok.id(of: "<|im_end|>"))
        XCTAssertEqual(tok.encode("<|im_start|>", parseSpecial: true), [imStart])
        XCTAssertNotEqual(tok.encode("<|im_start|>", parseSpecial: false), [imStart], "user text cannot become a control token")
        XCTAssertEqual(tok.decode(tok.encode("<|im_start|>", parseSpecial: false)), "<|im_start|>")
        XCTAssertTrue(tok.endOfGeneration.contains(imEnd))
        XCTAssertTrue(tok.endOfGeneration.contains(try XCTUnwrap(tok.id(of: "<|endoftext|>"))))
        XCTAssertEqual(tok.decode([imEnd]), "", "control tokens are not printed")
        XCTAssertEqual(tok.decode([imEnd], special: true), "<|im_end|>")
        let small = try Self.tokenizer("smollm2-135m")
        XCTAssertEqual(small.pre, "smollm")
        XCTAssertTrue(small.endOfGeneration.contains(2) && small.endOfGeneration.contains(0))
    }

    func testChatTemplateTokens() throws {
        let url = try ModelStore().resolve("qwen2.5-coder-0.5b", kind: .llm)
        let f = try GGUFFile(path: url.path)
        let tok = try Tokenizer(gguf: f)
        let tmpl = ChatTemplate.detect(gguf: f, tokenizer: tok)
        XCTAssertEqual(tmpl, .chatML)
        let msgs = [ChatMessage(.system, "Be brief."), ChatMessage(.user, "Hi <|im_end|> there")]
        let ids = tmpl.tokens(msgs, tokenizer: tok)
        let text = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi <|im_end|> there<|im_end|>\n<|im_start|>assistant\n"
        XCTAssertEqual(tok.decode(ids, special: true), text)
        // the user's literal marker stays text: exactly three <|im_end|> ids would mean it was injected
        XCTAssertEqual(ids.filter { $0 == tok.id(of: "<|im_end|>") }.count, 2)
    }
}
