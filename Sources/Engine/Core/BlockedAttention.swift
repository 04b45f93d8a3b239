import COpenBLAS

/// Non-causal multi-head attention for long sequences (audio encoders: 1500×1500 per head).
/// Heads run in parallel on the engine threads (OpenBLAS is single-threaded in Confab), and each head walks
/// its queries in blocks of `block` rows, so a block's scores [block, Tk] stay in cache between the two products
/// instead of streaming a Tq×Tk matrix through memory.
///
///   q [Tq, H·D] (qStride)   k, v [Tk, H·D] (kStride, vStride)   out [Tq, H·D] (outStride)
///   scratch: at least H · block · Tk floats
public func blockedAttention(q: UnsafePointer<Float>, qStride: Int,
                             k: UnsafePointer<Float>, kStride: Int,
                             v: UnsafePointer<Float>, vStride: Int,
                             out: UnsafeMutablePointer<Float>, outStride: Int,
                             queries Tq: Int, keys Tk: Int, heads H: Int, headDim D: Int, scale: Float,
                             block: Int = 64, scratch: UnsafeMutablePointer<Float>) {
    nonisolated(unsafe) let (q, k, v, out, scratch) = (q, k, v, out, scratch)
    EngineThreads.parallelChunks(H) { heads in
        for h in heads {
            let s = scratch + h * block * Tk
            let qh = q + h * D, kh = k + h * D, vh = v + h * D, oh = out + h * D
            var i0 = 0
            while i0 < Tq {
                let n = min(block, Tq - i0)
                // s[n, Tk] = scale · q[i0..<i0+n] · khᵀ
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(Tk), Int32(D),
                            scale, qh + i0 * qStride, Int32(qStride), kh, Int32(kStride), 0, s, Int32(Tk))
                for r in 0..<n { softmaxInPlaceFast(s + r * Tk, count: Tk) }
                // out[i0..<i0+n, head] = s · vh
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(D), Int32(Tk),
                            1, s, Int32(Tk), vh, Int32(vStride), 0, oh + i0 * outStride, Int32(outStride))
                i0 += n
            }
        }
    }
}
