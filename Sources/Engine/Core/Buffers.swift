/// A float32 buffer allocated once (at load time) and freed with its owner.
/// Reference semantics and no copy-on-write, so it is safe to use in inner loops.
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int, zeroed: Bool = true) {
        self.count = max(count, 1)
        pointer = .allocate(capacity: self.count)
        if zeroed { pointer.initialize(repeating: 0, count: self.count) }
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count, zeroed: false)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
    public func zero() { pointer.update(repeating: 0, count: count) }
}

/// Element types a weight may be stored in, before conversion to float32 at load.
public enum StoredScalar: Sendable { case f32, f16, bf16 }

/// Converts `count` stored values (unaligned, little-endian) to float32.
public func convertToFloat(_ src: UnsafeRawPointer, _ type: StoredScalar, count: Int, into dst: UnsafeMutablePointer<Float>) {
    switch type {
    case .f32:
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
    case .f16:
        for i in 0..<count {
            dst[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        }
    case .bf16:
        for i in 0..<count {
            dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
        }
    }
}

@inline(__always) public func halfToFloat(_ bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }
