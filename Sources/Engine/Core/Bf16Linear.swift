import CKernels

/// Which bf16 product kernel to run: plain C (vdpbf16ps emulated, the reference) or AVX512-BF16. Both give the same
/// bits; `best` is AVX512-BF16 where the CPU has it, else plain (which is far too slow to use for a model: callers
/// fall back to float32 products there instead, see `available`).
public enum Bf16Kernel: Int32, Sendable, CaseIterable, Comparable {
    case plain = 0, avx512 = 1
    public static let best = Bf16Kernel(rawValue: confab_bf16_best_variant()) ?? .plain
    /// Whether this CPU has AVX512-BF16 (vdpbf16ps).
    public static var available: Bool { best == .avx512 }
    /// vdpbf16ps's multiply-adds per second over float32 FMA's, measured once on first use (about 0.3 ms; 0 without
    /// AVX512-BF16): about 2 on AMD Zen 4 and 5, below 1 on Intel Xeons up to Emerald Rapids.
    public static let multiplyRateRatio: Double = confab_bf16_multiply_rate_ratio()
    /// Whether bf16 products pay here: AVX512-BF16 present and measured at ≥ 1.5× float32's multiply rate. (Where
    /// vdpbf16ps issues on one port only, bf16 products run slower than OpenBLAS's sgemm despite half the bytes.)
    public static var fasterThanFloat: Bool { available && multiplyRateRatio >= 1.5 }
    public static func < (a: Bf16Kernel, b: Bf16Kernel) -> Bool { a.rawValue < b.rawValue }
}

/// A weight matrix W [N, K] rounded to bfloat16 once (at load), packed in the kernel's panels of 16 outputs × 2
/// consecutive inputs. Np·Kp·2 bytes.
public final class Bf16Matrix: @unchecked Sendable {
    public let outFeatures: Int, inFeatures: Int
    let paddedK: Int, paddedN: Int
    let packed: UnsafeMutablePointer<UInt16>

    /// W [N, K] with rows `rowStride` floats apart (default K).
    public init(_ W: UnsafePointer<Float>, outFeatures N: Int, inFeatures K: Int, rowStride: Int? = nil) {
        outFeatures = N; inFeatures = K
        paddedK = Int(confab_bf16_padded_k(Int32(K))); paddedN = Int(confab_bf16_padded_n(Int32(N)))
        packed = .allocate(capacity: paddedN * paddedK)
        confab_bf16_pack(W, Int32(N), Int32(K), rowStride ?? K, packed)
    }

    deinit { packed.deallocate() }

    public var byteCount: Int { 2 * paddedN * paddedK }
}

/// Scratch for the activations of bf16 products (rows rounded to bfloat16), allocated once for the largest product.
public final class Bf16Activations: @unchecked Sendable {
    public let maxRows: Int, maxInFeatures: Int
    let rowLength: Int
    let rows: UnsafeMutablePointer<UInt16>
    public init(maxRows: Int, maxInFeatures: Int) {
        self.maxRows = max(1, maxRows); self.maxInFeatures = max(2, maxInFeatures)
        rowLength = Int(confab_bf16_padded_k(Int32(self.maxInFeatures)))
        rows = .allocate(capacity: self.maxRows * rowLength)
    }
    deinit { rows.deallocate() }
}

/// y[T, N] (+)= x[T, K] · Wᵀ + b with W in bfloat16 and each row of x rounded to bfloat16 on the way in, products
/// summed in float32 (vdpbf16ps), split over the engine threads by blocks of 64 outputs.
public func bf16Linear(_ x: UnsafePointer<Float>, rows T: Int, rowStride: Int? = nil, weight W: Bf16Matrix, bias b: UnsafePointer<Float>?,
                       into y: UnsafeMutablePointer<Float>, outStride: Int? = nil, accumulate: Bool = false,
                       scratch: Bf16Activations, kernel: Bf16Kernel = .best) {
    precondition(T <= scratch.maxRows && W.inFeatures <= scratch.maxInFeatures, "bf16Linear: scratch too small")
    let K = W.inFeatures, lda = W.paddedK
    nonisolated(unsafe) let (x, y, xa) = (x, y, scratch.rows)
    let ldx = rowStride ?? K
    EngineThreads.parallelChunks(T, minChunk: 256) { rows in
        confab_bf16_round_rows(kernel.rawValue, x + rows.lowerBound * ldx, Int32(rows.count), Int32(K), ldx, xa + rows.lowerBound * lda, lda)
    }
    let panels = W.paddedN / 16, groups = (panels + 3) / 4
    let ldy = outStride ?? W.outFeatures
    let minGroups = T >= 32 ? 1 : 8
    EngineThreads.parallelChunks(groups, minChunk: minGroups) { g in
        confab_bf16_gemm(kernel.rawValue, xa, lda, Int32(T), Int32(W.paddedK), W.packed, b, Int32(W.outFeatures),
                         Int32(g.lowerBound * 4), Int32(min(panels, g.upperBound * 4)), y, ldy, accumulate ? 1 : 0)
    }
}
