/// Bounds-checked little-endian reader over raw bytes (model headers and metadata).
/// Every read checks the remaining length, so a truncated or lying file throws instead of reading out of bounds.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public var offset: Int
    public let path: String

    public init(_ bytes: UnsafeRawBufferPointer, path: String, offset: Int = 0) {
        self.bytes = bytes; self.path = path; self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public func fail(_ problem: String) -> ModelFileError {
        ModelFileError(path: path, problem: "\(problem) (at byte \(offset))")
    }

    public mutating func need(_ n: Int, _ what: String) throws {
        guard n >= 0, n <= remaining else { throw fail("truncated: \(what) needs \(n) bytes, \(remaining) left") }
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: String = "integer") throws -> T {
        try need(MemoryLayout<T>.size, what)
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    public mutating func readFloat(_ what: String = "float") throws -> Float {
        Float(bitPattern: try read(UInt32.self, what))
    }

    public mutating func readDouble(_ what: String = "double") throws -> Double {
        Double(bitPattern: try read(UInt64.self, what))
    }

    /// Raw bytes without copying.
    public mutating func slice(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        try need(n, what)
        let s = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
        offset += n
        return s
    }

    public mutating func string(length n: Int, _ what: String = "string") throws -> String {
        let s = try slice(n, what)
        return String(decoding: s, as: UTF8.self)
    }

    public mutating func skip(_ n: Int, _ what: String) throws {
        try need(n, what)
        offset += n
    }
}
