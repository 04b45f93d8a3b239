import Foundation
import XCTest
@testable import Engine

/// Inputs that once crashed or over-allocated a Whisper parser (found by fuzzing or in its review): each is now a
/// one-line error naming the file. The fuzz targets replay the same inputs from Fuzz/corpus.
final class FuzzRegressionTests: XCTestCase {
    /// CTranslate2 bytes: u32 version 6, spec "S", revision 1, the variables, no aliases.
    static func ct2(_ vars: [(name: String, dims: [UInt32], dtype: UInt8, data: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func str(_ s: String) { let u = Array(s.utf8); withUnsafeBytes(of: UInt16(u.count + 1).littleEndian) { out += $0 }; out += u; out.append(0) }
        u32(6); str("S"); u32(1); u32(UInt32(vars.count))
        for v in vars {
            str(v.name); out.append(UInt8(v.dims.count)); v.dims.forEach(u32)
            out.append(v.dtype); u32(UInt32(v.data.count)); out += v.data
        }
        u32(0)
        return out
    }

    func parse(_ bytes: [UInt8], _ path: String = "model.bin") throws -> CTranslate2ModelFile {
        try bytes.withUnsafeBytes { try CTranslate2ModelFile(file: try MappedFile(copying: $0, path: path)) }
    }

    func assertOneLine(_ e: Error, _ path: String, _ expect: String, file: StaticString = #filePath, line: UInt = #line) {
        let s = "\(e)"
        XCTAssertTrue(s.hasPrefix(path + ": ") && s.contains(expect), s, file: file, line: line)
        XCTAssertFalse(s.contains("\n"), s, file: file, line: line)
    }

    /// Three dims of 2^32 − 1 multiplied into the element count overflowed an Int (a trap) before the size check.
    func testCTranslate2ShapeWhoseProductOverflowsIsAnError() {
        let bytes = Self.ct2([("w", [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], 0, [0, 0, 0, 0])])
        XCTAssertThrowsError(try parse(bytes)) { assertOneLine($0, "model.bin", "w: shape [4294967295, 4294967295, 4294967295] is too large") }
        // The same shape with a byte count the multiplication wraps to must not pass either.
        XCTAssertThrowsError(try parse(Self.ct2([("w", [0x8000_0000, 0x8000_0000, 4], 4, [])]))) { assertOneLine($0, "model.bin", "too large") }
    }

    /// A float32 scalar attribute (encoder/num_heads) of 1e30, infinity or NaN trapped in Int(Float); now it is absent.
    func testCTranslate2FloatScalarOutOfRangeIsNotAnInteger() throws {
        func f32(_ v: Float) -> [UInt8] { withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        let f = try parse(Self.ct2([("big", [], 0, f32(1e30)), ("inf", [], 0, f32(.infinity)), ("nan", [], 0, f32(.nan)), ("six", [], 0, f32(6))]))
        XCTAssertNil(f.scalar("big")); XCTAssertNil(f.scalar("inf")); XCTAssertNil(f.scalar("nan"))
        XCTAssertEqual(f.scalar("six"), 6)
    }

    /// config.json's token lists: whole numbers only, one-line errors otherwise.
    func testWhisperConfigTokenLists() throws {
        let c = try WhisperConfigFile(data: Data(#"{"suppress_ids": [1, 2, 50361], "suppress_ids_begin": [220, 50256], "lang_ids": [1e300]}"#.utf8), path: "config.json")
        XCTAssertEqual(c.suppressIDs, [1, 2, 50361]); XCTAssertEqual(c.suppressIDsBegin, [220, 50256])
        XCTAssertNil(try WhisperConfigFile(data: Data("{}".utf8), path: "config.json").suppressIDs)
        for (json, expect) in [(#"{"suppress_ids": [1e300]}"#, "suppress_ids holds"), (#"{"suppress_ids": [0.5]}"#, "not a token id"),
                               (#"{"suppress_ids_begin": "x"}"#, "not a list"), ("[1]", "not valid JSON"), ("", "not valid JSON")] {
            XCTAssertThrowsError(try WhisperConfigFile(data: Data(json.utf8), path: "config.json"), json) { assertOneLine($0, "config.json", expect) }
        }
    }
}
