import Foundation
import XCTest
@testable import Engine

/// Voice files that once crashed or over-allocated a parser (found by fuzzing or in its review): each is now a
/// one-line error naming the file. The fuzz targets replay the same inputs from Fuzz/corpus.
final class FuzzRegressionTests: XCTestCase {
    func assertOneLine(_ e: Error, _ path: String, _ expect: String, file: StaticString = #filePath, line: UInt = #line) {
        let s = "\(e)"
        XCTAssertTrue(s.hasPrefix(path + ": ") && s.contains(expect), s, file: file, line: line)
        XCTAssertFalse(s.contains("\n"), s, file: file, line: line)
    }

    func config(_ fields: String) -> Data {
        Data(("{\"audio\": {\"sample_rate\": 22050}, \"phoneme_id_map\": {\"_\": [0], \"^\": [1], \"$\": [2], \"a\": [3]}" + fields + "}").utf8)
    }

    /// Numbers that became Ints unchecked: 1e300 trapped the conversion (sample rate, ids, counts).
    func testPiperConfigNumbersOutOfRangeAreErrors() throws {
        let good = try PiperConfig(data: config(", \"num_symbols\": 256, \"speaker_id_map\": {\"x\": 1, \"y\": 1e300}"), path: "v.onnx.json")
        XCTAssertEqual(good.sampleRate, 22050); XCTAssertEqual(good.numSymbols, 256); XCTAssertEqual(good.speakerIdMap, ["x": 1])
        XCTAssertEqual(try PiperConfig(data: config(""), path: "v.onnx.json").numSymbols, 4)
        let cases: [(Data, String)] = [
            (Data(#"{"audio": {"sample_rate": 1e300}, "phoneme_id_map": {"_": [0]}}"#.utf8), "audio.sample_rate 1e+300 is not a sample rate"),
            (Data(#"{"audio": {"sample_rate": 22050.5}, "phoneme_id_map": {"_": [0]}}"#.utf8), "is not a sample rate"),
            (Data(#"{"audio": {"sample_rate": 22050}, "phoneme_id_map": {"_": [1e300], "^": [1], "$": [2]}}"#.utf8), "phoneme_id_map[_] holds"),
            (Data(#"{"audio": {"sample_rate": 22050}, "phoneme_id_map": {"_": [-1], "^": [1], "$": [2]}}"#.utf8), "not a phoneme id"),
            (config(", \"num_symbols\": 1e20"), "is not a count"),
            (config(", \"num_speakers\": -2"), "num_speakers -2 is not a count"),
        ]
        for (data, expect) in cases {
            XCTAssertThrowsError(try PiperConfig(data: data, path: "v.onnx.json"), expect) { assertOneLine($0, "v.onnx.json", expect) }
        }
    }

    // ONNX protobuf by hand: field keys and varints.
    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        repeat { var b = UInt8(v & 0x7F); v >>= 7; if v != 0 { b |= 0x80 }; out.append(b) } while v != 0
        return out
    }
    static func bytesField(_ n: UInt64, _ payload: [UInt8]) -> [UInt8] { varint(n << 3 | 2) + varint(UInt64(payload.count)) + payload }
    static func intField(_ n: UInt64, _ v: Int64) -> [UInt8] { varint(n << 3) + varint(UInt64(bitPattern: v)) }
    /// A ModelProto whose graph holds one float initializer with these dims and raw bytes.
    static func onnx(dims: [Int64], raw: [UInt8]) -> [UInt8] {
        var t = dims.flatMap { intField(1, $0) } + intField(2, 1) + bytesField(8, Array("w".utf8))
        if !raw.isEmpty { t += bytesField(9, raw) }
        return intField(1, 8) + bytesField(7, bytesField(5, t))
    }

    func weights(_ bytes: [UInt8]) throws -> ONNXWeights {
        try bytes.withUnsafeBytes { try ONNXWeights(file: try MappedFile(copying: $0, path: "voice.onnx")) }
    }

    /// Dims whose product overflows Int64 trapped; negative dims passed as a count of 1.
    func testONNXInitializerDimsAreChecked() throws {
        let ok = try weights(Self.onnx(dims: [2], raw: [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]))
        XCTAssertEqual(try ok.tensor("w").shape, [2]); XCTAssertEqual(try ok.tensor("w").data[1], 2)
        for dims: [Int64] in [[1 << 40, 1 << 40], [Int64.max, 2], [-1, -1], [-4]] {
            XCTAssertThrowsError(try weights(Self.onnx(dims: dims, raw: [0, 0, 0, 0])), "\(dims)") { assertOneLine($0, "voice.onnx", "initializer w has bad dims") }
        }
    }

    /// A few bytes claiming 2^30 floats with no data: refused before 4 GB is allocated for them.
    func testONNXInitializerWithoutItsDataAllocatesNothing() {
        XCTAssertThrowsError(try weights(Self.onnx(dims: [1 << 30], raw: []))) { assertOneLine($0, "voice.onnx", "0 floats for 1073741824") }
        XCTAssertThrowsError(try weights(Self.onnx(dims: [1 << 30], raw: [1, 2, 3, 4]))) { assertOneLine($0, "voice.onnx", "4 bytes for 1073741824 floats") }
    }
}
