import Foundation

/// A CTranslate2 `model.bin` (binary versions 1–6), read from a memory map and validated.
///
/// Layout (little-endian, packed): u32 version; [version ≥ 2] str spec_name, u32 spec_revision;
/// u32 n_vars; per var: str name, u8 rank, u32 dims[rank], then
///   version ≥ 4: u8 dtype (0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16), u32 num_bytes
///   version < 4: u8 item_size, u32 num_elements (dtype from the size: 4 f32, 2 i16, 1 i8)
/// then the bytes; [version ≥ 3] u32 n_aliases, (str alias, str target)…  str = u16 length incl. NUL, bytes, NUL.
/// Every read is bounds-checked, so a truncated or corrupt file throws a one-line ModelFileError.
public final class CTranslate2ModelFile: @unchecked Sendable {
    public enum DType: UInt8, Sendable { case f32 = 0, i8 = 1, i16 = 2, i32 = 3, f16 = 4, bf16 = 5
        var size: Int { switch self { case .f32, .i32: 4; case .i8: 1; case .i16, .f16, .bf16: 2 } }
    }
    public struct Variable: Sendable {
        public var dims: [Int]
        public var dtype: DType
        public var offset: Int      // byte offset of the data in the file
        public var byteCount: Int
        public var count: Int { dims.reduce(1, *) }
    }

    public let path: String
    public let version: Int
    public let specName: String
    public private(set) var variables: [String: Variable] = [:]
    private let file: MappedFile

    public convenience init(path: String) throws {
        try self.init(file: try MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        let path = file.path
        self.path = path
        self.file = file
        var r = ByteReader(file.bytes, path: path)
        let version = Int(try r.read(UInt32.self, "binary version"))
        guard version >= 1 && version <= 6 else {
            throw ModelFileError(path: path, problem: "not a CTranslate2 model (binary version \(version), expected 1...6)")
        }
        self.version = version
        func str(_ r: inout ByteReader, _ what: String) throws -> String {
            let n = Int(try r.read(UInt16.self, what))
            guard n >= 1 else { throw r.fail("empty \(what)") }
            let s = try r.slice(n, what)
            guard s[n - 1] == 0 else { throw r.fail("\(what) is not NUL-terminated (corrupt file)") }
            return String(decoding: UnsafeRawBufferPointer(rebasing: s[0..<(n - 1)]), as: UTF8.self)
        }
        if version >= 2 {
            specName = try str(&r, "spec name")
            _ = try r.read(UInt32.self, "spec revision")
        } else {
            specName = ""
        }
        let n = Int(try r.read(UInt32.self, "variable count"))
        guard n > 0 && n < 1_000_000 else { throw r.fail("implausible variable count \(n) (corrupt file)") }
        for _ in 0..<n {
            let name = try str(&r, "variable name")
            let rank = Int(try r.read(UInt8.self, "rank of \(name)"))
            guard rank <= 8 else { throw r.fail("implausible rank \(rank) for \(name) (corrupt file)") }
            var dims: [Int] = []
            for _ in 0..<rank { dims.append(Int(try r.read(UInt32.self, "dims of \(name)"))) }
            let dtype: DType, bytes: Int
            if version >= 4 {
                let id = try r.read(UInt8.self, "dtype of \(name)")
                guard let d = DType(rawValue: id) else { throw r.fail("unknown dtype \(id) for \(name) (corrupt file)") }
                dtype = d
                bytes = Int(try r.read(UInt32.self, "size of \(name)"))
            } else {
                let item = Int(try r.read(UInt8.self, "item size of \(name)"))
                switch item {
                case 4: dtype = .f32
                case 2: dtype = .i16
                case 1: dtype = .i8
                default: throw r.fail("unknown item size \(item) for \(name) (corrupt file)")
                }
                bytes = Int(try r.read(UInt32.self, "element count of \(name)")) * item
            }
            // In overflow-checked arithmetic: the product of up to 8 dims of 2^32 does not fit an Int.
            var count = 1
            for d in dims {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw r.fail("\(name): shape \(dims) is too large (corrupt file)") }
                count = p
            }
            let (want, o) = count.multipliedReportingOverflow(by: dtype.size)
            guard !o, want == bytes else {
                throw r.fail("\(name): \(bytes) bytes do not match shape \(dims) of \(dtype) (corrupt file)")
            }
            let offset = r.offset
            try r.skip(bytes, "data of \(name) (\(bytes) bytes)")
            variables[name] = Variable(dims: dims, dtype: dtype, offset: offset, byteCount: bytes)
        }
        if version >= 3 {
            let na = Int(try r.read(UInt32.self, "alias count"))
            guard na < 1_000_000 else { throw r.fail("implausible alias count \(na) (corrupt file)") }
            for _ in 0..<na {
                let alias = try str(&r, "alias name"), target = try str(&r, "alias target")
                guard let v = variables[target] else { throw r.fail("alias \(alias) points to missing \(target)") }
                variables[alias] = v
                for suffix in ["_scale", "_zero"] { if let s = variables[target + suffix] { variables[alias + suffix] = s } }
            }
        }
        guard r.remaining == 0 else { throw r.fail("\(r.remaining) unexpected trailing bytes (corrupt file)") }
    }

    public func has(_ name: String) -> Bool { variables[name] != nil }

    public func dims(_ name: String) throws -> [Int] {
        guard let v = variables[name] else { throw ModelFileError(path: path, problem: "missing variable \(name)") }
        return v.dims
    }

    /// A scalar attribute (e.g. encoder/num_heads) as an integer, or nil if absent.
    public func scalar(_ name: String) -> Int? {
        guard let v = variables[name], v.count == 1 else { return nil }
        let p = file.base + v.offset
        switch v.dtype {
        case .i8: return Int(p.load(as: Int8.self))
        case .i16: return Int(p.loadUnaligned(as: Int16.self))
        case .i32: return Int(p.loadUnaligned(as: Int32.self))
        case .f32:
            let f = Float(bitPattern: p.loadUnaligned(as: UInt32.self))
            return f.isFinite && abs(f) < 0x1p53 ? Int(f) : nil
        case .f16, .bf16: return nil
        }
    }

    /// A variable's bytes in the mapped file, as stored (valid while this file object lives).
    public func stored(_ name: String) -> (pointer: UnsafeRawPointer, variable: Variable)? {
        guard let v = variables[name] else { return nil }
        return (UnsafeRawPointer(file.base + v.offset), v)
    }

    /// Converts a variable to float32, dequantizing int8 (per-row `_scale`) and int16 (scalar `_scale`): w = q / scale.
    public func floats(_ name: String, expect shape: [Int]? = nil) throws -> FloatBuffer {
        guard let v = variables[name] else { throw ModelFileError(path: path, problem: "missing variable \(name)") }
        if let shape, shape != v.dims {
            throw ModelFileError(path: path, problem: "\(name) has shape \(v.dims), expected \(shape)")
        }
        let out = FloatBuffer(count: v.count, zeroed: false)
        let src = file.base + v.offset
        switch v.dtype {
        case .f32: convertToFloat(src, .f32, count: v.count, into: out.pointer)
        case .f16: convertToFloat(src, .f16, count: v.count, into: out.pointer)
        case .bf16: convertToFloat(src, .bf16, count: v.count, into: out.pointer)
        case .i32:
            for i in 0..<v.count { out[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        case .i8, .i16:
            // Quantized: the scale is per output row for int8 ([out]), a scalar for int16.
            let scaleName = name + "_scale"
            let scales: FloatBuffer
            if has(scaleName) { scales = try floats(scaleName) } else { scales = FloatBuffer([1]) }
            let rows = scales.count
            guard rows == 1 || (v.dims.first ?? 0) == rows else {
                throw ModelFileError(path: path, problem: "\(scaleName) has \(rows) scales for shape \(v.dims)")
            }
            let perRow = v.count / max(rows, 1)
            for row in 0..<rows {
                let s = scales[row]
                let inv: Float = s != 0 ? 1 / s : 0
                for j in 0..<perRow {
                    let i = row * perRow + j
                    let q: Float = v.dtype == .i8 ? Float(src.load(fromByteOffset: i, as: Int8.self))
                                                  : Float(src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))
                    out[i] = q * inv
                }
            }
        }
        return out
    }
}
