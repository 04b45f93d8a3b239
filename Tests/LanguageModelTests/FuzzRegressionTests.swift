import Foundation
import XCTest
@testable import Engine

/// GGUF inputs that once crashed or over-allocated the parser (found by fuzzing or in its review): each is now a
/// one-line error naming the file. The fuzz target replays the same inputs from Fuzz/corpus/gguf.
final class FuzzRegressionTests: XCTestCase {
    /// "GGUF", version 3, no tensors, then `kv` (already encoded key/value pairs).
    static func gguf(kvCount: UInt64, _ kv: [UInt8]) -> [UInt8] {
        var out = Array("GGUF".utf8)
        withUnsafeBytes(of: UInt32(3).littleEndian) { out += $0 }
        withUnsafeBytes(of: UInt64(0).littleEndian) { out += $0 }
        withUnsafeBytes(of: kvCount.littleEndian) { out += $0 }
        return out + kv
    }
    static func key(_ s: String, type: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(s.utf8.count).littleEndian) { out += $0 }
        out += Array(s.utf8)
        withUnsafeBytes(of: type.littleEndian) { out += $0 }
        return out
    }

    func parse(_ bytes: [UInt8], _ path: String = "model.gguf") throws -> GGUFFile {
        try bytes.withUnsafeBytes { try GGUFFile(file: try MappedFile(copying: $0, path: path)) }
    }

    /// An array of 8-byte elements whose count only fits the file as bytes: refused before anything is reserved
    /// (it used to reserve 8 bytes per remaining byte of the file, and 8 per element for nested arrays).
    func testArrayCountCheckedAgainstItsElementSize() throws {
        for (elementType, size) in [(UInt32(10), 8), (12, 8), (5, 4), (8, 8), (9, 12)] {
            var kv = Self.key("k", type: 9)
            withUnsafeBytes(of: elementType.littleEndian) { kv += $0 }
            let n = 200
            withUnsafeBytes(of: UInt64(n).littleEndian) { kv += $0 }
            kv += [UInt8](repeating: 0, count: n * size - 1)     // one byte short of n elements
            XCTAssertThrowsError(try parse(Self.gguf(kvCount: 1, kv)), "type \(elementType)") { e in
                let s = "\(e)"
                XCTAssertTrue(s.hasPrefix("model.gguf: ") && s.contains("array of 200 elements larger than the file"), s)
                XCTAssertFalse(s.contains("\n"))
            }
        }
        // An unknown element type is named as such, whatever the count.
        var kv = Self.key("k", type: 9)
        withUnsafeBytes(of: UInt32(99).littleEndian) { kv += $0 }
        withUnsafeBytes(of: UInt64(1).littleEndian) { kv += $0 }
        XCTAssertThrowsError(try parse(Self.gguf(kvCount: 1, kv + [0, 0, 0, 0]))) { XCTAssertTrue("\($0)".contains("unknown metadata array type 99"), "\($0)") }
        // Exactly enough bytes still parses.
        kv = Self.key("k", type: 9)
        withUnsafeBytes(of: UInt32(10).littleEndian) { kv += $0 }
        withUnsafeBytes(of: UInt64(3).littleEndian) { kv += $0 }
        kv += [UInt8](repeating: 1, count: 24)
        guard case .ints(let v)? = try parse(Self.gguf(kvCount: 1, kv)).metadata["k"] else { return XCTFail("not an int array") }
        XCTAssertEqual(v.count, 3)
    }
}
