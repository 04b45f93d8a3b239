import CKernels

/// A weight matrix [rows = out, columns = in] read in place from its ggml blocks (no dequantized copy).
public struct QuantMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    public let data: UnsafeRawPointer
    public var rowBytes: Int { columns / type.blockSize * type.blockBytes }

    public init(_ t: GGUFTensor) {
        type = t.type; rows = t.rows; columns = t.columns; data = t.data
    }
    public init(type: GGMLType, rows: Int, columns: Int, data: UnsafeRawPointer) {
        self.type = type; self.rows = rows; self.columns = columns; self.data = data
    }

    /// How the activation vector must be prepared for this weight type.
    public var activation: ActivationFormat {
        switch type {
        case .f32, .f16, .bf16: return .float
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return .q8_32
        case .q4_K, .q5_K, .q6_K: return .q8_K
        }
    }

    /// Row r as float32 (embedding lookups).
    public func dequantizeRow(_ r: Int, into y: UnsafeMutablePointer<Float>) {
        Engine.dequantizeRow(data + r * rowBytes, type: type, count: columns, into: y)
    }
}

public enum ActivationFormat: Sendable {
    case float, q8_32, q8_K
    /// Bytes one prepared vector of n values takes.
    public func bytes(_ n: Int) -> Int {
        switch self {
        case .float: return 4 * n
        case .q8_32: return n / 32 * Int(CONFAB_Q8_32_BYTES)
        case .q8_K: return n / 256 * Int(CONFAB_Q8_K_BYTES)
        }
    }
}

/// Scratch for quantized activations, sized at load for the largest T × columns product.
public final class ActivationScratch: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let capacity: Int
    public init(bytes: Int) {
        capacity = max(bytes, 64)
        pointer = .allocate(byteCount: capacity, alignment: 64)
    }
    deinit { pointer.deallocate() }
}

/// y[T, rows] = x[T, columns] · Wᵀ, with W in its quantized blocks. The T activation rows are quantized
/// once (Q8_32 or Q8_K as the weight type needs), then the output rows are split over the engine threads.
public func quantMatmul(_ W: QuantMatrix, _ x: UnsafePointer<Float>, rows T: Int,
                        into y: UnsafeMutablePointer<Float>, scratch: ActivationScratch) {
    let n = W.columns
    let fmt = W.activation
    let stride = fmt.bytes(n)
    let xq: UnsafeRawPointer
    if fmt == .float {
        xq = UnsafeRawPointer(x)
    } else {
        precondition(stride * T <= scratch.capacity, "activation scratch too small")
        nonisolated(unsafe) let dst = scratch.pointer
        let k = fmt == .q8_K
        // Prefill: the T rows are quantized on the engine threads too (single-threaded it was ~3% of prefill).
        SpinningPool.shared.parallelChunks(T, minChunk: 8) { range in
            for t in range {
                if k { confab_quantize_q8_K(x + t * n, dst + t * stride, Int32(n)) }
                else { confab_quantize_q8_32(x + t * n, dst + t * stride, Int32(n)) }
            }
        }
        xq = UnsafeRawPointer(dst)
    }
    let type = Int32(W.type.rawValue), rowBytes = W.rowBytes, rows = W.rows, data = W.data
    nonisolated(unsafe) let out = y
    // Chunks of 32 rows at least: a thread hand-off costs about as much as a few rows.
    SpinningPool.shared.parallelChunks(rows, minChunk: 32) { range in
        confab_matmul(type, data, rowBytes, Int32(range.lowerBound), Int32(range.upperBound), Int32(n),
                      xq, stride, Int32(T), out, rows)
    }
}
