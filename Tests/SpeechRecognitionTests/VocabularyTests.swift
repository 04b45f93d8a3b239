import XCTest
@testable import Engine

final class VocabularyTests: XCTestCase {
    /// byte-level BPE form of raw bytes (GPT-2's bytes_to_unicode)
    private func bpe(_ bytes: [UInt8]) -> String {
        var enc: [UInt8: UInt32] = [:]
        for (c, b) in WhisperVocabulary.byteDecoder { enc[b] = c }
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar(enc[$0]!)! }))
    }

    private func smallVocabulary(_ text: [String]) throws -> WhisperVocabulary {
        let specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>",
                        "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>", "<|0.00|>", "<|0.02|>"]
        return try WhisperVocabulary(tokens: text + specials)
    }

    func testMultiByteUTF8SplitAcrossTokens() throws {
        let cafe = Array(" café".utf8), smile = Array("😀".utf8), ja = Array("日本".utf8)
        // é split between tokens; the emoji's 4 bytes over 3 tokens; Japanese over 2 tokens
        let pieces: [[UInt8]] = [Array(cafe[0..<5]), Array(cafe[5...]), Array(smile[0..<1]), Array(smile[1..<3]), Array(smile[3...]),
                                 Array(ja[0..<2]), Array(ja[2...])]
        let v = try smallVocabulary(pieces.map(bpe))
        XCTAssertEqual(v.tokens[0], "Ġcaf\u{C3}")
        XCTAssertEqual(v.decode([0, 1]), " café")
        XCTAssertEqual(v.decode([2, 3, 4]), "😀")
        XCTAssertEqual(v.decode([5, 6]), "日本")
        XCTAssertEqual(v.decode(Array(0..<7)), " café😀日本")
    }

    func testSpecialTokensAreFoundAndLeftOutOfText() throws {
        let v = try smallVocabulary([bpe(Array(" hi".utf8))])
        XCTAssertEqual(v.eot, 1); XCTAssertEqual(v.sot, 2); XCTAssertEqual(v.noSpeech, 8)
        XCTAssertEqual(v.noTimestamps, 9); XCTAssertEqual(v.timestampBegin, 10)
        XCTAssertEqual(v.languageToken("en"), 3)
        XCTAssertTrue(v.isTimestamp(11))
        XCTAssertEqual(v.decode([2, 10, 0, 11, 1]), " hi")
        XCTAssertEqual(v.decode([2, 0, 1], special: true), "<|startoftranscript|> hi<|endoftext|>")
    }

    func testMissingSpecialTokenIsAOneLineError() {
        XCTAssertThrowsError(try WhisperVocabulary(tokens: ["a", "b"], path: "/x/vocabulary.txt")) { e in
            let s = "\(e)"
            XCTAssertTrue(s.hasPrefix("/x/vocabulary.txt: "), s)
            XCTAssertFalse(s.contains("\n"))
        }
    }

    func testRealVocabulariesSpecialIds() throws {
        let store = try ModelStore()
        let tiny = try WhisperVocabulary(path: try store.resolve("tiny.en", kind: .whisper).appendingPathComponent("vocabulary.txt").path)
        XCTAssertEqual(tiny.count, 51864); XCTAssertFalse(tiny.isMultilingual)
        XCTAssertEqual([tiny.eot, tiny.sot, tiny.translate, tiny.transcribe, tiny.sotPrev, tiny.noSpeech, tiny.noTimestamps, tiny.timestampBegin],
                       [50256, 50257, 50357, 50358, 50360, 50361, 50362, 50363])
        // ids from the reference tokenizer (tokenizer.json) for " Hello, café 😀 日本"
        XCTAssertEqual(tiny.decode([18435, 11, 40304, 30325, 222, 10545, 245, 98, 17312, 105]), " Hello, café 😀 日本")
        let base = try WhisperVocabulary(path: try store.resolve("base", kind: .whisper).appendingPathComponent("vocabulary.txt").path)
        XCTAssertEqual(base.count, 51865); XCTAssertTrue(base.isMultilingual)
        XCTAssertEqual([base.eot, base.sot, base.noTimestamps, base.timestampBegin], [50257, 50258, 50363, 50364])
        XCTAssertEqual(base.languageToken("en"), 50259)
        XCTAssertEqual(base.languages.count, 99)
    }
}
