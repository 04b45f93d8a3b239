import COpenBLAS

/// y[T, out] = x[T, in] · W[out, in]ᵀ (+ b[out]). Row-major, W as PyTorch stores it.
/// T == 1 goes through sgemv, which is several times faster than sgemm with M = 1.
public func linear(_ x: UnsafePointer<Float>, rows T: Int, inFeatures: Int,
                   weight W: UnsafePointer<Float>, bias b: UnsafePointer<Float>?, outFeatures: Int,
                   into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
    let beta: Float = accumulate ? 1 : 0
    if T == 1 {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), 1, W, Int32(inFeatures), x, 1, beta, y, 1)
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(outFeatures), Int32(inFeatures),
                    1, x, Int32(inFeatures), W, Int32(inFeatures), beta, y, Int32(outFeatures))
    }
    if let b {
        for t in 0..<T {
            let row = y + t * outFeatures
            for o in 0..<outFeatures { row[o] += b[o] }
        }
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
