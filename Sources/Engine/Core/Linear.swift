import COpenBLAS

/// y[T, out] = x[T, in] · W[out, in]ᵀ (+ b[out]). Row-major, W as PyTorch stores it.
/// T == 1 goes through sgemv, which is several times faster than sgemm with M = 1.
public func linear(_ x: UnsafePointer<Float>, rows T: Int, inFeatures: Int,
                   weight W: UnsafePointer<Float>, bias b: UnsafePointer<Float>?, outFeatures: Int,
                   into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
    let beta: Float = accumulate ? 1 : 0
    if T > 1 && T <= 8 && outFeatures * inFeatures >= 1 << 16 {
        fewRowsLinear(x, rows: T, inFeatures: inFeatures, weight: W, outFeatures: outFeatures, into: y, accumulate: accumulate)
    } else if T == 1 {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), 1, W, Int32(inFeatures), x, 1, beta, y, 1)
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(outFeatures), Int32(inFeatures),
                    1, x, Int32(inFeatures), W, Int32(inFeatures), beta, y, Int32(outFeatures))
    }
    if let b { addBias(b, to: y, rows: T, outFeatures: outFeatures) }
}

/// y[t, o] += b[o] for every row t.
@inline(__always)
public func addBias(_ b: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, rows T: Int, outFeatures N: Int) {
    for t in 0..<T {
        let row = y + t * N
        for o in 0..<N { row[o] += b[o] }
    }
}

/// C[M, N] = A[M, K] · B[K, N] (row-major), optionally with B transposed (B given as [N, K]).
public func matmul(_ A: UnsafePointer<Float>, _ B: UnsafePointer<Float>, into C: UnsafeMutablePointer<Float>,
                   M: Int, N: Int, K: Int, transposeB: Bool = false, alpha: Float = 1, beta: Float = 0,
                   lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(M), Int32(N), Int32(K), alpha, A, Int32(lda ?? K), B, Int32(ldb ?? (transposeB ? K : N)),
                beta, C, Int32(ldc ?? N))
}

/// y[t, o] (+)= W[o] · x[t] for a few rows t (beams, a short prompt). OpenBLAS's sgemm packs the whole weight
/// matrix on every call, which for T ≤ 8 costs more than the product itself (Whisper's 51864×384 output head with
/// 5 beams ran 2.5× slower than one sgemv per step); here each weight row is read once and dotted with all T rows
/// while it is in L1, rows split over the engine threads.
///   x [T, D]   W [N, D]   y [T, N]
func fewRowsLinear(_ x: UnsafePointer<Float>, rows T: Int, inFeatures D: Int, weight W: UnsafePointer<Float>,
                   outFeatures N: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    fewRowsProduct(Float32Lanes.self, x, rows: T, inFeatures: D, weight: UnsafeRawPointer(W), outFeatures: N, into: y, accumulate: accumulate)
}

/// The same product with W stored as IEEE float16 (CTranslate2's Whisper files): read in place, half the bytes of
/// a float32 copy, widened exactly (F16C), and summed in the same order, so y is bit-identical to fewRowsLinear on
/// the widened weights. The output head of a decoding step is bound by memory bandwidth, not arithmetic.
///   x [T, D]   W [N, D] float16   y [T, N]   (any T ≥ 1)
public func fewRowsLinearHalf(_ x: UnsafePointer<Float>, rows T: Int, inFeatures D: Int, weight W: UnsafeRawPointer,
                              outFeatures N: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
    fewRowsProduct(Float16Lanes.self, x, rows: T, inFeatures: D, weight: W, outFeatures: N, into: y, accumulate: accumulate)
}

/// How a weight row's elements are stored: 8 of them widened to float32 at a time.
protocol WeightLanes {
    static var stride: Int { get }
    static func load8(_ p: UnsafeRawPointer, element i: Int) -> SIMD8<Float>
    static func load1(_ p: UnsafeRawPointer, element i: Int) -> Float
}
enum Float32Lanes: WeightLanes {
    static var stride: Int { 4 }
    @inline(__always) static func load8(_ p: UnsafeRawPointer, element i: Int) -> SIMD8<Float> { p.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) }
    @inline(__always) static func load1(_ p: UnsafeRawPointer, element i: Int) -> Float { p.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
}
enum Float16Lanes: WeightLanes {
    static var stride: Int { 2 }
    // SIMD8<Float16> → SIMD8<Float> compiles to one vcvtph2ps with F16C (the Haswell target).
    @inline(__always) static func load8(_ p: UnsafeRawPointer, element i: Int) -> SIMD8<Float> { SIMD8<Float>(p.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<Float16>.self)) }
    @inline(__always) static func load1(_ p: UnsafeRawPointer, element i: Int) -> Float { Float(p.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self)) }
}

@inline(__always)
func fewRowsProduct<L: WeightLanes>(_: L.Type, _ x: UnsafePointer<Float>, rows T: Int, inFeatures D: Int, weight W: UnsafeRawPointer,
                                    outFeatures N: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    nonisolated(unsafe) let (x, W, y) = (x, W, y)
    EngineThreads.parallelChunks(N, minChunk: max(1, 131_072 / max(D, 1))) { rows in
        for o in rows {
            let w = W + o * D * L.stride
            for t in 0..<T {
                let xt = UnsafeRawPointer(x + t * D)
                // Four accumulators: the FMA latency, not one chain, bounds the loop.
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                var i = 0
                while i + 32 <= D {
                    let b = i * 4
                    a0.addProduct(L.load8(w, element: i), xt.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self))
                    a1.addProduct(L.load8(w, element: i + 8), xt.loadUnaligned(fromByteOffset: b + 32, as: SIMD8<Float>.self))
                    a2.addProduct(L.load8(w, element: i + 16), xt.loadUnaligned(fromByteOffset: b + 64, as: SIMD8<Float>.self))
                    a3.addProduct(L.load8(w, element: i + 24), xt.loadUnaligned(fromByteOffset: b + 96, as: SIMD8<Float>.self))
                    i += 32
                }
                while i + 8 <= D {
                    a0.addProduct(L.load8(w, element: i), xt.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
                    i += 8
                }
                var sum = ((a0 + a1) + (a2 + a3)).sum()
                let xf = x + t * D
                while i < D { sum += L.load1(w, element: i) * xf[i]; i += 1 }
                let k = t * N + o
                y[k] = accumulate ? y[k] + sum : sum
            }
        }
    }
}
