import Foundation
@testable import Engine

/// Writes small GGUF v3 files for tests (metadata + tensors), so the reader and the forward pass can be
/// checked without the real models, and so malformed variants can be made byte by byte.
struct GGUFWriter {
    enum Value {
        case u32(UInt32), i32(Int32), f32(Float), bool(Bool), string(String)
        case strings([String]), i32s([Int32]), f32s([Float])
    }
    var metadata: [(String, Value)] = []
    var tensors: [(name: String, type: UInt32, shape: [Int], data: [UInt8])] = []
    var alignment = 32

    mutating func add(_ key: String, _ v: Value) { metadata.append((key, v)) }
    mutating func addF32(_ name: String, shape: [Int], _ values: [Float]) {
        var b: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { b += $0 } }
        tensors.append((name, 0, shape, b))
    }
    mutating func addRaw(_ name: String, type: GGMLType, shape: [Int], _ bytes: [UInt8]) {
        tensors.append((name, type.rawValue, shape, bytes))
    }

    /// The file's bytes, plus the offset of each tensor's info record (for corruption tests).
    func bytes() -> (data: [UInt8], tensorInfoOffsets: [Int], dataStart: Int) {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); out += Array(s.utf8) }
        out += Array("GGUF".utf8)
        u32(3); u64(UInt64(tensors.count)); u64(UInt64(metadata.count))
        for (k, v) in metadata {
            str(k)
            switch v {
            case .u32(let x): u32(4); u32(x)
            case .i32(let x): u32(5); u32(UInt32(bitPattern: x))
            case .f32(let x): u32(6); u32(x.bitPattern)
            case .bool(let x): u32(7); out.append(x ? 1 : 0)
            case .string(let s): u32(8); str(s)
            case .strings(let a): u32(9); u32(8); u64(UInt64(a.count)); a.forEach(str)
            case .i32s(let a): u32(9); u32(5); u64(UInt64(a.count)); a.forEach { u32(UInt32(bitPattern: $0)) }
            case .f32s(let a): u32(9); u32(6); u64(UInt64(a.count)); a.forEach { u32($0.bitPattern) }
            }
        }
        var offsets: [Int] = []
        var infoOffsets: [Int] = []
        var off = 0
        for t in tensors {
            infoOffsets.append(out.count)
            str(t.name); u32(UInt32(t.shape.count)); t.shape.forEach { u64(UInt64($0)) }
            u32(t.type); u64(UInt64(off))
            offsets.append(off)
            off += (t.data.count + alignment - 1) / alignment * alignment
        }
        while out.count % alignment != 0 { out.append(0) }
        let dataStart = out.count
        for (i, t) in tensors.enumerated() {
            while out.count < dataStart + offsets[i] { out.append(0) }
            out += t.data
        }
        return (out, infoOffsets, dataStart)
    }

    func write(to path: String) throws {
        try Data(bytes().data).write(to: URL(fileURLWithPath: path))
    }
}

func tempPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("confab-llm-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

/// Deterministic pseudo-random numbers for fixtures.
struct TestRNG {
    var s: UInt64
    init(_ seed: UInt64) { s = seed }
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float { lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24) }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

func f16Bytes(_ v: Float) -> [UInt8] {
    let h = Float16(v).bitPattern
    return [UInt8(h & 0xFF), UInt8(h >> 8)]
}
