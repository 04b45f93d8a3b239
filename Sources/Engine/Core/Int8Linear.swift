import CKernels

/// Which int8 product kernels to run: the plain C reference, AVX2 (the x86-64 floor), or AVX-512 VNNI.
/// All give bit-identical results; `best` is the fastest this CPU has.
public enum Int8Kernel: Int32, Sendable, CaseIterable, Comparable {
    case plain = 0, avx2 = 1, vnni512 = 2
    public static let best = Int8Kernel(rawValue: confab_i8_best_variant()) ?? .plain
    /// Whether this CPU has VNNI (int8 products several times faster than float32 ones).
    public static var hasVNNI: Bool { best >= .vnni512 }
    public static func < (a: Int8Kernel, b: Int8Kernel) -> Bool { a.rawValue < b.rawValue }
}

/// A weight matrix W [N, K] quantized to int8 once (at load), symmetric per output row, packed in the kernels'
/// panels of 16 outputs. Np·Kp bytes plus 8 bytes per output.
public final class Int8Matrix: @unchecked Sendable {
    public let outFeatures: Int, inFeatures: Int
    let paddedK: Int, paddedN: Int
    let packed: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    let colsums: UnsafeMutablePointer<Int32>

    /// W [N, K] with rows `rowStride` floats apart (default K).
    public init(_ W: UnsafePointer<Float>, outFeatures N: Int, inFeatures K: Int, rowStride: Int? = nil) {
        outFeatures = N; inFeatures = K
        paddedK = Int(confab_i8_padded_k(Int32(K))); paddedN = Int(confab_i8_padded_n(Int32(N)))
        packed = .allocate(capacity: paddedN * paddedK)
        scales = .allocate(capacity: paddedN)
        colsums = .allocate(capacity: paddedN)
        confab_i8_pack(W, Int32(N), Int32(K), rowStride ?? K, packed, scales, colsums)
    }

    /// The same from IEEE float16 rows (converted a row block at a time; no float32 copy of the whole matrix).
    public convenience init(half W: UnsafeRawPointer, outFeatures N: Int, inFeatures K: Int) {
        let block = 256
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: block * K)
        defer { tmp.deallocate() }
        self.init(outFeatures: N, inFeatures: K)
        var n0 = 0
        while n0 < N {
            let n = min(block, N - n0)
            for i in 0..<(n * K) { tmp[i] = Float(W.loadUnaligned(fromByteOffset: 2 * (n0 * K + i), as: Float16.self)) }
            // n0 is a multiple of 16: whole panels
            confab_i8_pack(tmp, Int32(n), Int32(K), K, packed + n0 * paddedK, scales + n0, colsums + n0)
            n0 += n
        }
    }

    private init(outFeatures N: Int, inFeatures K: Int) {
        outFeatures = N; inFeatures = K
        paddedK = Int(confab_i8_padded_k(Int32(K))); paddedN = Int(confab_i8_padded_n(Int32(N)))
        packed = .allocate(capacity: paddedN * paddedK)
        scales = .allocate(capacity: paddedN)
        colsums = .allocate(capacity: paddedN)
    }

    deinit { packed.deallocate(); scales.deallocate(); colsums.deallocate() }

    public var byteCount: Int { paddedN * paddedK + 8 * paddedN }
}

/// Scratch for the activations of int8 products: quantized rows and their scales, allocated once for the largest
/// product (rows × inFeatures).
public final class Int8Activations: @unchecked Sendable {
    public let maxRows: Int, maxInFeatures: Int
    let q: UnsafeMutablePointer<UInt8>
    let scales: UnsafeMutablePointer<Float>
    public init(maxRows: Int, maxInFeatures: Int) {
        self.maxRows = max(1, maxRows); self.maxInFeatures = max(4, maxInFeatures)
        q = .allocate(capacity: self.maxRows * Int(confab_i8_padded_k(Int32(self.maxInFeatures))))
        scales = .allocate(capacity: self.maxRows)
    }
    deinit { q.deallocate(); scales.deallocate() }
}

/// y[T, N] (+)= x[T, K] · Wᵀ + b with W quantized to int8 and each row of x quantized to 8 bits on the way in
/// (max-abs scale per row), split over the engine threads by blocks of 64 outputs.
public func int8Linear(_ x: UnsafePointer<Float>, rows T: Int, rowStride: Int? = nil, weight W: Int8Matrix, bias b: UnsafePointer<Float>?,
                       into y: UnsafeMutablePointer<Float>, outStride: Int? = nil, accumulate: Bool = false,
                       scratch: Int8Activations, kernel: Int8Kernel = .best) {
    precondition(T <= scratch.maxRows && W.inFeatures <= scratch.maxInFeatures, "int8Linear: scratch too small")
    let K = W.inFeatures, Kp = W.paddedK
    nonisolated(unsafe) let (x, y, q, sa) = (x, y, scratch.q, scratch.scales)
    let ldx = rowStride ?? K
    EngineThreads.parallelChunks(T, minChunk: 256) { rows in
        confab_i8_quantize_rows(x + rows.lowerBound * ldx, Int32(rows.count), Int32(K), ldx, q + rows.lowerBound * Kp, sa + rows.lowerBound)
    }
    let panels = W.paddedN / 16, groups = (panels + 3) / 4
    let ldy = outStride ?? W.outFeatures
    // at least 4 groups (256 outputs) of a few rows per thread: a decoding step's small products stay on one
    let minGroups = T >= 32 ? 1 : 8
    EngineThreads.parallelChunks(groups, minChunk: minGroups) { g in
        confab_i8_gemm(kernel.rawValue, q, sa, Int32(T), Int32(Kp), W.packed, W.scales, W.colsums, b, Int32(W.outFeatures),
                       Int32(g.lowerBound * 4), Int32(min(panels, g.upperBound * 4)), y, ldy, accumulate ? 1 : 0)
    }
}

/// Non-causal attention of an audio encoder in 16-bit integers (AVX-512 VNNI), heads in parallel, each with its own
/// workspace (`Attention16Workspace`): scores, softmax and the value product of a block of queries stay in L2.
/// Head size 64 only. Relative error about 1e-4 (13-bit queries and keys, 15-bit probabilities, 16-bit values).
///   q [Tq, H·64] (qStride)   k, v [Tk, H·64] (kStride, vStride)   out [Tq, H·64] (outStride)
public func attention16(q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int, v: UnsafePointer<Float>, vStride: Int,
                        out: UnsafeMutablePointer<Float>, outStride: Int, queries Tq: Int, keys Tk: Int, heads H: Int, scale: Float,
                        workspace: Attention16Workspace) {
    precondition(H <= workspace.heads && Tk <= workspace.maxKeys, "attention16: workspace too small")
    nonisolated(unsafe) let (q, k, v, out) = (q, k, v, out)
    EngineThreads.parallelChunks(H) { heads in
        for h in heads {
            confab_attn16_head(q + h * 64, qStride, k + h * 64, kStride, v + h * 64, vStride, out + h * 64, outStride,
                               Int32(Tq), Int32(Tk), scale, workspace.pointer(head: h))
        }
    }
}

/// One workspace per head for `attention16`, allocated once.
public final class Attention16Workspace: @unchecked Sendable {
    public static var available: Bool { confab_attn16_available() != 0 }
    public let heads: Int, maxKeys: Int
    private let bytesPerHead: Int
    private let base: UnsafeMutableRawPointer
    public init(heads: Int, maxKeys: Int) {
        self.heads = heads; self.maxKeys = maxKeys
        bytesPerHead = (confab_attn16_workspace_bytes(Int32(maxKeys)) + 63) / 64 * 64
        base = .allocate(byteCount: bytesPerHead * heads, alignment: 64)
    }
    deinit { base.deallocate() }
    func pointer(head h: Int) -> UnsafeMutableRawPointer { base + h * bytesPerHead }
}
