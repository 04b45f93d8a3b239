import COpenBLAS
import CKernels

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
        sgemm(transB: true, M: T, N: outFeatures, K: inFeatures, x, lda: inFeatures, W, ldb: inFeatures, beta: beta,
              y, ldc: outFeatures)
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
    sgemm(transB: transposeB, M: M, N: N, K: K, alpha: alpha, A, lda: lda ?? K, B, ldb: ldb ?? (transposeB ? K : N),
          beta: beta, C, ldc: ldc ?? N)
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

/// Up to five rows of x at a time share each widened weight vector (widening was the bound, at 5 per element
/// when each row of x read the weights on its own); two weight rows at a time keep ten sums in registers.
/// A lone row of x (greedy decoding) has its own loop with four sums.
@inline(__always)
func fewRowsProduct<L: WeightLanes>(_: L.Type, _ x: UnsafePointer<Float>, rows T: Int, inFeatures D: Int, weight W: UnsafeRawPointer,
                                    outFeatures N: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    nonisolated(unsafe) let (x, W, y) = (x, W, y)
    EngineThreads.parallelChunks(N, minChunk: max(1, 131_072 / max(D, 1))) { outputs in
        var t0 = 0
        while t0 < T {
            let n = min(5, T - t0)
            if n == 1 {
                for o in outputs { oneRowDot(L.self, x + t0 * D, W + o * D * L.stride, D, into: y + t0 * N + o, accumulate: accumulate) }
            } else {
                // rows past n repeat the last one; their sums are not stored
                let xs = (x + t0 * D, x + (t0 + 1) * D, x + (t0 + min(2, n - 1)) * D, x + (t0 + min(3, n - 1)) * D, x + (t0 + min(4, n - 1)) * D)
                var o = outputs.lowerBound
                while o < outputs.upperBound {
                    let pair = o + 1 < outputs.upperBound
                    fiveRowDots(L.self, xs, W + o * D * L.stride, W + (pair ? o + 1 : o) * D * L.stride, D, rows: n, pair: pair,
                                into: y + t0 * N + o, stride: N, accumulate: accumulate)
                    o += pair ? 2 : 1
                }
            }
            t0 += n
        }
    }
}

/// y = x · w for one row of x: four sums in flight (the FMA latency, not one chain, bounds the loop).
@inline(__always)
private func oneRowDot<L: WeightLanes>(_: L.Type, _ x: UnsafePointer<Float>, _ w: UnsafeRawPointer, _ D: Int,
                                       into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let xt = UnsafeRawPointer(x)
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
    while i < D { sum += L.load1(w, element: i) * x[i]; i += 1 }
    y[0] = accumulate ? y[0] + sum : sum
}

private let prefetchBytes = 4096   // 1024: 10 GB/s, 2048: 12, 4096: 14 (of 30 from one core); 8192 no better

/// y[t, 0] = x_t · w0 (and y[t, 1] = x_t · w1 with `pair`) for the first `rows` of five rows of x: each weight
/// vector is widened once for all five.
@inline(__always)
private func fiveRowDots<L: WeightLanes>(_: L.Type, _ x: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
                                         _ w0: UnsafeRawPointer, _ w1: UnsafeRawPointer, _ D: Int, rows: Int, pair: Bool,
                                         into y: UnsafeMutablePointer<Float>, stride N: Int, accumulate: Bool) {
    let (x0, x1, x2, x3, x4) = (UnsafeRawPointer(x.0), UnsafeRawPointer(x.1), UnsafeRawPointer(x.2), UnsafeRawPointer(x.3), UnsafeRawPointer(x.4))
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>(), a4 = SIMD8<Float>()
    var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>(), b4 = SIMD8<Float>()
    var i = 0
    while i + 8 <= D {
        // The next pair of rows, fetched ahead: at five FMAs per weight the loop consumes the weights slowly
        // enough that the hardware prefetcher did not keep up (7.6 of 30 GB/s from memory on one Zen 5 core).
        if i & 31 == 0 {
            confab_prefetch(w0 + i * L.stride + prefetchBytes); confab_prefetch(w1 + i * L.stride + prefetchBytes)
        }
        let u = L.load8(w0, element: i), v = L.load8(w1, element: i), off = i * 4
        var e = x0.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self); a0.addProduct(u, e); b0.addProduct(v, e)
        e = x1.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self); a1.addProduct(u, e); b1.addProduct(v, e)
        e = x2.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self); a2.addProduct(u, e); b2.addProduct(v, e)
        e = x3.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self); a3.addProduct(u, e); b3.addProduct(v, e)
        e = x4.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self); a4.addProduct(u, e); b4.addProduct(v, e)
        i += 8
    }
    var s = (a0.sum(), a1.sum(), a2.sum(), a3.sum(), a4.sum())
    var r = (b0.sum(), b1.sum(), b2.sum(), b3.sum(), b4.sum())
    while i < D {
        let u = L.load1(w0, element: i), v = L.load1(w1, element: i)
        s.0 += u * x.0[i]; s.1 += u * x.1[i]; s.2 += u * x.2[i]; s.3 += u * x.3[i]; s.4 += u * x.4[i]
        r.0 += v * x.0[i]; r.1 += v * x.1[i]; r.2 += v * x.2[i]; r.3 += v * x.3[i]; r.4 += v * x.4[i]
        i += 1
    }
    @inline(__always) func put(_ k: Int, _ value: Float) { y[k] = accumulate ? y[k] + value : value }
    put(0, s.0); if pair { put(1, r.0) }
    if rows > 1 { put(N, s.1); if pair { put(N + 1, r.1) } }
    if rows > 2 { put(2 * N, s.2); if pair { put(2 * N + 1, r.2) } }
    if rows > 3 { put(3 * N, s.3); if pair { put(3 * N + 1, r.3) } }
    if rows > 4 { put(4 * N, s.4); if pair { put(4 * N + 1, r.4) } }
}
