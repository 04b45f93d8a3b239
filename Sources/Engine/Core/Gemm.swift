import COpenBLAS

/// C = α·op(A)·op(B) + β·C, row-major, as `cblas_sgemm`, on the engine threads.
///
///   op(A) [M, K]: A [M, K] with rows lda apart, or A [K, M] when transA
///   op(B) [K, N]: B [K, N] with rows ldb apart, or B [N, K] when transB
///   C [M, N] with rows ldc apart
///
/// OpenBLAS runs single-threaded in Confab (`EngineThreads.configure`): its own workers, woken for every product
/// and spinning after it, ran beside SpinningPool's on two cores. Piper alternates between the two dozens of
/// times per sentence, and a short sentence took longer on two threads than on one in the stages that used
/// OpenBLAS (`confab bench tts --stages`). A product worth sharing is cut here into blocks of C's columns
/// (or rows, when it has few columns), one single-threaded `cblas_sgemm` per block on `SpinningPool.shared`.
/// Each element of C is summed over K in the same order as by one call, whatever the cut.
///
/// Called from inside a pool job or while the pool is busy on another thread, it runs in one piece.
public func sgemm(transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int, alpha: Float = 1,
                  _ A: UnsafePointer<Float>, lda: Int, _ B: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                  _ C: UnsafeMutablePointer<Float>, ldc: Int) {
    guard M > 0 && N > 0 else { return }
    let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
    func block(_ i0: Int, _ m: Int, _ j0: Int, _ n: Int) {
        // rows i0..<i0+m and columns j0..<j0+n of C
        let a = transA ? A + i0 : A + i0 * lda
        let b = transB ? B + j0 * ldb : B + j0
        cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(K), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, C + i0 * ldc + j0, Int32(ldc))
    }
    let threads = EngineThreads.count
    let work = M.multipliedReportingOverflow(by: N).partialValue.multipliedReportingOverflow(by: max(K, 1)).partialValue
    guard threads > 1, work >= GemmSplit.minimumWork else { block(0, M, 0, N); return }
    let byColumns = N >= GemmSplit.columnAlign * threads
    guard byColumns || M >= GemmSplit.rowAlign * threads else { block(0, M, 0, N); return }
    let extent = byColumns ? N : M, align = byColumns ? GemmSplit.columnAlign : GemmSplit.rowAlign
    let per = ((extent + threads - 1) / threads + align - 1) / align * align
    let parts = (extent + per - 1) / per
    let ran = SpinningPool.shared.tryRun(parts) { p in
        let lo = p * per, hi = min(extent, lo + per)
        guard lo < hi else { return }
        if byColumns { block(0, M, lo, hi - lo) } else { block(lo, hi - lo, 0, N) }
    }
    if !ran { block(0, M, 0, N) }
}

/// How `sgemm` cuts a product.
public enum GemmSplit {
    /// Multiply-adds below which a product runs on one thread (about 20 µs of work: a pool hand-off costs a few).
    public static let minimumWork = 1 << 19
    /// Blocks of columns are multiples of this (OpenBLAS's kernels work on 16 columns of C at a time on AVX-512)…
    public static let columnAlign = 16
    /// …and blocks of rows of this.
    public static let rowAlign = 8
}
