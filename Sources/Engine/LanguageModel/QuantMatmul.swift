import CKernels
import Foundation

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

/// Decoding (T = 1): y_a = W_a·x, y_b = W_b·x and y_c = W_c·x (the layer's q, k and v; the feed-forward's gate and
/// up go through `quantMatmulSiluGate`, which also gates) in one hand-off to the
/// engine threads, the activation quantized once. Each thread takes an equal share of the matrices' bytes, cut at
/// 8-row groups (the decode kernels' unit), so three small products cost one join instead of three: the key and
/// value matrices of a grouped-query model are only 256 rows, and their joins were most of their time. Every output
/// is bit-identical to separate `quantMatmul` calls (the row kernels give each row the same sum wherever a range
/// starts). Other cases (prefill, mixed activation formats) make the separate calls.
public func quantMatmulShared(_ a: QuantMatrix, into ya: UnsafeMutablePointer<Float>,
                              _ b: QuantMatrix, into yb: UnsafeMutablePointer<Float>,
                              _ c: QuantMatrix? = nil, into yc: UnsafeMutablePointer<Float>? = nil,
                              from x: UnsafePointer<Float>, rows T: Int, scratch: ActivationScratch) {
    let fmt = a.activation
    guard T == 1, b.activation == fmt, b.columns == a.columns, c.map({ $0.activation == fmt && $0.columns == a.columns }) ?? true,
          (c == nil) == (yc == nil) else {
        quantMatmul(a, x, rows: T, into: ya, scratch: scratch)
        quantMatmul(b, x, rows: T, into: yb, scratch: scratch)
        if let c, let yc { quantMatmul(c, x, rows: T, into: yc, scratch: scratch) }
        return
    }
    let n = a.columns
    let stride = fmt.bytes(n)
    let xq = prepareOne(fmt, x, count: n, scratch: scratch)
    let count = c == nil ? 2 : 3
    let parts = min(EngineThreads.count, max(1, (a.rows + b.rows + (c?.rows ?? 0)) / 32))   // as quantMatmul: 32 rows a part at least
    // Each matrix's bytes in order; part p takes bytes [p·B/parts, (p+1)·B/parts) of the concatenation.
    let bytesA = a.rows * a.rowBytes, bytesB = b.rows * b.rowBytes, bytesC = (c?.rows ?? 0) * (c?.rowBytes ?? 0)
    let total = bytesA + bytesB + bytesC
    nonisolated(unsafe) let (ya, yb, yc) = (ya, yb, yc)
    SpinningPool.shared.run(parts) { p in
        let lo = total * p / parts, hi = total * (p + 1) / parts
        var start = 0
        for m in 0..<count {
            let W = m == 0 ? a : m == 1 ? b : c!
            let y = m == 0 ? ya : m == 1 ? yb : yc!
            let size = W.rows * W.rowBytes
            defer { start += size }
            // the rows of W whose first byte falls in [lo, hi), cut at 8-row groups
            func row(_ byte: Int) -> Int {
                let r = (min(max(byte - start, 0), size) + W.rowBytes - 1) / W.rowBytes
                return r >= W.rows ? W.rows : r / 8 * 8
            }
            let r0 = row(lo), r1 = row(hi)   // row(0) = 0 and row(total) = W.rows: the parts tile every matrix
            if r0 < r1 {
                confab_matmul(Int32(W.type.rawValue), W.data, W.rowBytes, Int32(r0), Int32(r1), Int32(n), xq, stride, 1, y, W.rows)
            }
        }
    }
}

/// Decoding's feed-forward input: h = silu(W_gate·x) ⊙ (W_up·x) in one hand-off to the engine threads. Each thread
/// takes the same rows (8-row groups) of both matrices and gates its own outputs, so the gating needs no join of its
/// own. `u` receives W_up·x. Bit-identical to the two products and a separate gating; other cases (prefill, unlike
/// matrices) do exactly that.
public func quantMatmulSiluGate(_ gate: QuantMatrix, _ up: QuantMatrix, from x: UnsafePointer<Float>, rows T: Int,
                                into h: UnsafeMutablePointer<Float>, up u: UnsafeMutablePointer<Float>, scratch: ActivationScratch) {
    let fmt = gate.activation
    guard T == 1, up.activation == fmt, up.columns == gate.columns, up.rows == gate.rows else {
        quantMatmul(gate, x, rows: T, into: h, scratch: scratch)
        quantMatmul(up, x, rows: T, into: u, scratch: scratch)
        siluGate(h, u, count: T * gate.rows)
        return
    }
    let n = gate.columns, rows = gate.rows
    let stride = fmt.bytes(n)
    let xq = prepareOne(fmt, x, count: n, scratch: scratch)
    let parts = min(EngineThreads.count, max(1, rows / 32))
    let groups = (rows + 7) / 8
    nonisolated(unsafe) let (h, u) = (h, u)
    SpinningPool.shared.run(parts) { p in
        let r0 = min(rows, groups * p / parts * 8), r1 = min(rows, groups * (p + 1) / parts * 8)
        guard r0 < r1 else { return }
        confab_matmul(Int32(gate.type.rawValue), gate.data, gate.rowBytes, Int32(r0), Int32(r1), Int32(n), xq, stride, 1, h, rows)
        confab_matmul(Int32(up.type.rawValue), up.data, up.rowBytes, Int32(r0), Int32(r1), Int32(n), xq, stride, 1, u, rows)
        siluGate(h + r0, u + r0, count: r1 - r0)
    }
}

/// a = silu(a) ⊙ b, split over the engine threads (single-threaded it was an eighth of 2-thread prefill: T·F expf).
func siluGate(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
    nonisolated(unsafe) let a = a
    SpinningPool.shared.parallelChunks(count, minChunk: 4096) { range in
        for i in range { let v = a[i]; a[i] = v / (1 + expf(-v)) * b[i] }
    }
}

/// One activation row as `fmt` needs it: x itself for float weights, else quantized into `scratch`.
private func prepareOne(_ fmt: ActivationFormat, _ x: UnsafePointer<Float>, count n: Int, scratch: ActivationScratch) -> UnsafeRawPointer {
    switch fmt {
    case .float: return UnsafeRawPointer(x)
    case .q8_32, .q8_K:
        precondition(fmt.bytes(n) <= scratch.capacity, "activation scratch too small")
        if fmt == .q8_K { confab_quantize_q8_K(x, scratch.pointer, Int32(n)) } else { confab_quantize_q8_32(x, scratch.pointer, Int32(n)) }
        return UnsafeRawPointer(scratch.pointer)
    }
}
