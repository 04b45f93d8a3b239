import Foundation

/// A GGUF (v2/v3) model file read in place from a memory map.
///
/// Layout: "GGUF", u32 version, u64 tensor_count, u64 kv_count, kv_count × (string key, u32 type, value),
/// tensor_count × (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset), then the data section
/// at align_up(end of infos, general.alignment). Every count, length and offset is checked against the file,
/// so a malformed file throws a one-line `ModelFileError` instead of reading out of bounds.
public final class GGUFFile: @unchecked Sendable {
    public let file: MappedFile
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    public let tensors: [String: GGUFTensor]
    public let tensorOrder: [String]
    public let alignment: Int
    public let dataOffset: Int
    public var path: String { file.path }

    public convenience init(path: String) throws {
        try self.init(file: try MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        var r = ByteReader(file.bytes, path: file.path)
        guard file.count >= 4, let magic = try? r.read(UInt32.self, "magic"), magic == 0x4655_4747 else {
            throw ModelFileError(path: file.path, problem: "not a GGUF file (bad magic)")
        }
        version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            throw ModelFileError(path: file.path, problem: "unsupported GGUF version \(version) (2 and 3 are supported)")
        }
        let nTensors = try r.read(UInt64.self, "tensor count")
        let nKV = try r.read(UInt64.self, "metadata count")
        // Each entry takes at least 8+4 (kv) or 8+4+4+8 (tensor) bytes: reject counts the file cannot hold.
        guard nKV <= UInt64(r.remaining / 12), nTensors <= UInt64(r.remaining / 24) else {
            throw r.fail("tensor/metadata counts (\(nTensors)/\(nKV)) larger than the file")
        }
        var meta: [String: GGUFValue] = [:]
        for _ in 0..<Int(nKV) {
            let key = try GGUFFile.readString(&r, "metadata key")
            let type = try r.read(UInt32.self, "metadata type")
            meta[key] = try GGUFFile.readValue(&r, type: type, depth: 0)
        }
        metadata = meta
        var align = 32
        if let a = meta["general.alignment"] {
            guard let v = a.int, v > 0, v <= 1 << 20, v & (v - 1) == 0 else {
                throw ModelFileError(path: file.path, problem: "general.alignment must be a power of two")
            }
            align = v
        }
        alignment = align

        var infos: [(String, [Int], UInt32, UInt64)] = []
        for _ in 0..<Int(nTensors) {
            let name = try GGUFFile.readString(&r, "tensor name")
            let nd = try r.read(UInt32.self, "tensor dims")
            guard nd >= 1, nd <= 4 else { throw r.fail("tensor \(name) has \(nd) dimensions") }
            var ne: [Int] = []
            for _ in 0..<nd {
                let d = try r.read(UInt64.self, "tensor shape")
                guard d >= 1, d < 1 << 40 else { throw r.fail("tensor \(name) has dimension \(d)") }
                ne.append(Int(d))
            }
            let type = try r.read(UInt32.self, "tensor type")
            let off = try r.read(UInt64.self, "tensor offset")
            infos.append((name, ne, type, off))
        }
        dataOffset = (r.offset + align - 1) / align * align
        var ts: [String: GGUFTensor] = [:]
        var order: [String] = []
        for (name, ne, rawType, off) in infos {
            guard let type = GGMLType(rawValue: rawType) else {
                throw ModelFileError(path: file.path, problem: "tensor \(name) has unknown or unsupported type \(rawType)")
            }
            guard ne[0] % type.blockSize == 0 else {
                throw ModelFileError(path: file.path, problem: "tensor \(name): row of \(ne[0]) is not a whole number of \(type) blocks")
            }
            var count = 1
            for d in ne {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o, p < 1 << 40 else { throw ModelFileError(path: file.path, problem: "tensor \(name) is too large") }
                count = p
            }
            let bytes = count / type.blockSize * type.blockBytes
            guard off % UInt64(align) == 0 else {
                throw ModelFileError(path: file.path, problem: "tensor \(name) offset \(off) is not aligned to \(align)")
            }
            guard off < UInt64(file.count), dataOffset + Int(off) + bytes <= file.count else {
                throw ModelFileError(path: file.path, problem: "tensor \(name) (offset \(off), \(bytes) bytes) lies beyond the end of the file (truncated?)")
            }
            guard ts[name] == nil else { throw ModelFileError(path: file.path, problem: "duplicate tensor \(name)") }
            ts[name] = GGUFTensor(name: name, type: type, shape: ne,
                                  data: file.base + dataOffset + Int(off), byteCount: bytes)
            order.append(name)
        }
        tensors = ts
        tensorOrder = order
    }

    public var architecture: String? { metadata["general.architecture"]?.string }

    public func tensor(_ name: String) throws -> GGUFTensor {
        guard let t = tensors[name] else { throw ModelFileError(path: path, problem: "missing tensor \(name)") }
        return t
    }

    public func int(_ key: String) throws -> Int {
        guard let v = metadata[key] else { throw ModelFileError(path: path, problem: "missing metadata \(key)") }
        guard let i = v.int else { throw ModelFileError(path: path, problem: "metadata \(key) is not an integer") }
        return i
    }
    public func float(_ key: String) -> Float? { metadata[key]?.float }

    // MARK: parsing

    static func readString(_ r: inout ByteReader, _ what: String) throws -> String {
        let n = try r.read(UInt64.self, what + " length")
        guard n <= UInt64(r.remaining) else { throw r.fail("truncated: \(what) of \(n) bytes") }
        return try r.string(length: Int(n), what)
    }

    static func readValue(_ r: inout ByteReader, type: UInt32, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try r.read(UInt8.self)))
        case 1: return .int(Int64(try r.read(Int8.self)))
        case 2: return .uint(UInt64(try r.read(UInt16.self)))
        case 3: return .int(Int64(try r.read(Int16.self)))
        case 4: return .uint(UInt64(try r.read(UInt32.self)))
        case 5: return .int(Int64(try r.read(Int32.self)))
        case 6: return .float(Double(try r.readFloat()))
        case 7:
            let b = try r.read(UInt8.self, "bool")
            guard b <= 1 else { throw r.fail("bool value \(b)") }
            return .bool(b == 1)
        case 8: return .string(try readString(&r, "string value"))
        case 9:
            guard depth < 4 else { throw r.fail("arrays nested too deeply") }
            let et = try r.read(UInt32.self, "array type")
            let n = try r.read(UInt64.self, "array count")
            // Every element takes its stored size (strings at least their 8-byte length, arrays 12 bytes): a count
            // the rest of the file cannot hold is a lie, refused before anything is reserved for it.
            let least: UInt64
            switch et {
            case 0, 1, 7: least = 1
            case 2, 3: least = 2
            case 4, 5, 6: least = 4
            case 8, 10, 11, 12: least = 8
            case 9: least = 12
            default: throw r.fail("unknown metadata array type \(et)")
            }
            guard n <= UInt64(r.remaining) / least else { throw r.fail("array of \(n) elements larger than the file") }
            switch et {
            case 8:
                var a: [String] = []
                a.reserveCapacity(Int(n))
                for _ in 0..<Int(n) { a.append(try readString(&r, "array string")) }
                return .strings(a)
            case 0, 1, 2, 3, 4, 5, 10, 11:
                var a: [Int64] = []
                a.reserveCapacity(Int(n))
                for _ in 0..<Int(n) {
                    switch try readValue(&r, type: et, depth: depth + 1) {
                    case .int(let v): a.append(v)
                    case .uint(let v): a.append(Int64(bitPattern: v))
                    default: break
                    }
                }
                return .ints(a)
            case 6, 12:
                var a: [Double] = []
                a.reserveCapacity(Int(n))
                for _ in 0..<Int(n) { a.append(et == 6 ? Double(try r.readFloat()) : try r.readDouble()) }
                return .floats(a)
            default:
                var a: [GGUFValue] = []
                for _ in 0..<Int(n) { a.append(try readValue(&r, type: et, depth: depth + 1)) }
                return .array(a)
            }
        case 10: return .uint(try r.read(UInt64.self))
        case 11: return .int(try r.read(Int64.self))
        case 12: return .float(try r.readDouble())
        default: throw r.fail("unknown metadata type \(type)")
        }
    }
}

public enum GGUFValue: Sendable {
    case int(Int64), uint(UInt64), float(Double), bool(Bool), string(String)
    case ints([Int64]), floats([Double]), strings([String]), array([GGUFValue])

    public var int: Int? {
        switch self {
        case .int(let v): return Int(v)
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
    public var float: Float? {
        switch self {
        case .float(let v): return Float(v)
        case .int(let v): return Float(v)
        case .uint(let v): return Float(v)
        default: return nil
        }
    }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return int.map { $0 != 0 } }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
}

/// One tensor's place in the map. `shape[0]` is the contiguous (innermost) dimension: a weight
/// matrix [out, in] is stored as shape [in, out], one row of `in` elements per output.
public struct GGUFTensor: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    public let shape: [Int]
    public let data: UnsafeRawPointer
    public let byteCount: Int
    public var columns: Int { shape[0] }
    public var rows: Int { shape.dropFirst().reduce(1, *) }
    public var rowBytes: Int { columns / type.blockSize * type.blockBytes }
    public var elementCount: Int { shape.reduce(1, *) }
}
