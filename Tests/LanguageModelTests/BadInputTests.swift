import XCTest
@testable import Engine

/// Malformed GGUF files give one-line errors naming the file and the problem, never a crash or an out-of-bounds read.
final class BadInputTests: XCTestCase {
    func tinyFile(arch: String = "llama") -> (data: [UInt8], infos: [Int], names: [String]) {
        let tiny = TinyModelTests.Tiny(arch: "llama", quantize: true, seed: 3)
        let path = tempPath("bad-base.gguf")
        try! tiny.write(path)
        var data = [UInt8](try! Data(contentsOf: URL(fileURLWithPath: path)))
        if arch != "llama" {
            // same length replacement of the architecture string's value keeps every offset valid
            let needle = Array("\u{5}\0\0\0\0\0\0\0llama".utf8)
            let at = data.firstRange(of: needle)!.lowerBound + 8
            for (i, b) in arch.utf8.prefix(5).enumerated() { data[at + i] = b }
        }
        let f = try! GGUFFile(path: path)
        // recompute the info offsets by walking the header the same way the writer laid it out
        let infos = f.tensorOrder.map { name -> Int in data.firstRange(of: Array(name.utf8))!.lowerBound - 8 }
        return (data, infos, f.tensorOrder)
    }

    func load(_ bytes: [UInt8], _ name: String) -> Error? {
        let path = tempPath(name)
        try! Data(bytes).write(to: URL(fileURLWithPath: path))
        do { _ = try LlamaModel(path: path, contextLimit: 64); return nil }
        catch { return error }
    }

    func expectError(_ bytes: [UInt8], _ name: String, contains: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let e = load(bytes, name) else { return XCTFail("\(name): loaded without error", file: file, line: line) }
        let text = String(describing: e)
        XCTAssertTrue(text.contains(contains), "\(name): \(text)", file: file, line: line)
        XCTAssertFalse(text.contains("\n"), "one line: \(text)", file: file, line: line)
        XCTAssertTrue(text.contains(name), "names the file: \(text)", file: file, line: line)
    }

    /// Byte offset of a tensor info's type field and offset field.
    func fields(_ data: [UInt8], _ infoStart: Int) -> (dims: Int, type: Int, offset: Int) {
        let nameLen = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: infoStart, as: UInt64.self) })
        let ndAt = infoStart + 8 + nameLen
        let nd = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: ndAt, as: UInt32.self) })
        let dims = ndAt + 4
        return (dims, dims + 8 * nd, dims + 8 * nd + 4)
    }

    func poke64(_ data: inout [UInt8], _ at: Int, _ v: UInt64) { for i in 0..<8 { data[at + i] = UInt8((v >> (8 * UInt64(i))) & 0xFF) } }
    func poke32(_ data: inout [UInt8], _ at: Int, _ v: UInt32) { for i in 0..<4 { data[at + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) } }

    func testWrongMagic() {
        var (d, _, _) = tinyFile()
        d[0] = UInt8(ascii: "X")
        expectError(d, "magic.gguf", contains: "not a GGUF file")
        expectError([1, 2], "tiny.gguf", contains: "not a GGUF file")
    }

    func testUnsupportedVersion() {
        var (d, _, _) = tinyFile()
        poke32(&d, 4, 7)
        expectError(d, "version.gguf", contains: "version 7")
    }

    func testTruncated() {
        let (d, _, _) = tinyFile()
        expectError(Array(d.prefix(d.count - 100)), "truncated-data.gguf", contains: "beyond the end of the file")
        expectError(Array(d.prefix(200)), "truncated-header.gguf", contains: "truncated")
        expectError(Array(d.prefix(30)), "truncated-counts.gguf", contains: "larger than the file")
    }

    func testLyingTensorOffsetAndSize() {
        let (d, infos, _) = tinyFile()
        var a = d
        poke64(&a, fields(a, infos[0]).offset, 1 << 40)
        expectError(a, "offset.gguf", contains: "beyond the end of the file")
        var b = d
        poke64(&b, fields(b, infos[1]).offset, 33)   // not aligned
        expectError(b, "unaligned.gguf", contains: "not aligned")
        var c = d
        let f = fields(c, infos[infos.count - 1])
        poke64(&c, f.dims, 1 << 20)                  // a dimension far larger than the data
        expectError(c, "size.gguf", contains: "tensor")
    }

    func testUnknownTensorType() {
        var (d, infos, names) = tinyFile()
        poke32(&d, fields(d, infos[0]).type, 99)
        expectError(d, "type.gguf", contains: "tensor \(names[0]) has unknown or unsupported type 99")
    }

    func testLyingCountsAndMetadata() {
        var (d, _, _) = tinyFile()
        var a = d
        poke64(&a, 8, 1 << 50)                       // tensor count
        expectError(a, "count.gguf", contains: "larger than the file")
        // first metadata value type → 99
        let keyLen = Int(d.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self) })
        poke32(&d, 24 + 8 + keyLen, 99)
        expectError(d, "metatype.gguf", contains: "unknown metadata type 99")
    }

    func testUnsupportedArchitecture() {
        let (d, _, _) = tinyFile(arch: "mamba")
        expectError(d, "arch.gguf", contains: "unsupported architecture 'mamba'")
    }

    /// Random corruption of the header never crashes: it loads or throws.
    func testRandomHeaderCorruptionNeverCrashes() {
        let (d, _, _) = tinyFile()
        var rng = TestRNG(99)
        for i in 0..<150 {
            var c = d
            for _ in 0..<(1 + rng.int(4)) { c[rng.int(min(d.count, 1500))] = UInt8(rng.int(256)) }
            _ = load(c, "fuzz\(i % 4).gguf")
        }
    }
}
