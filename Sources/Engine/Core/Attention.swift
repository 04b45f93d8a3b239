import COpenBLAS

/// Scaled dot-product attention over heads, written into `out`.
///
///   q   [Tq, Hq·D]  (row stride qStride)      k, v  [Tk, Hkv·D]  (row strides kStride, vStride)
///   out [Tq, Hq·D]                            scores: scratch of at least Tq·Tk floats
///
/// Grouped-query attention: query head h reads key/value head h / (Hq / Hkv).
/// `causalOffset`: when non-nil, query row i sits at absolute position causalOffset + i and sees keys 0...that.
public func attention(q: UnsafePointer<Float>, qStride: Int,
                      k: UnsafePointer<Float>, kStride: Int,
                      v: UnsafePointer<Float>, vStride: Int,
                      out: UnsafeMutablePointer<Float>, outStride: Int,
                      queries Tq: Int, keys Tk: Int, heads Hq: Int, kvHeads Hkv: Int, headDim D: Int,
                      scale: Float, causalOffset: Int? = nil,
                      scores: UnsafeMutablePointer<Float>) {
    let group = Hq / Hkv
    for h in 0..<Hq {
        let kvh = h / group
        let qh = q + h * D, kh = k + kvh * D, vh = v + kvh * D
        // scores[Tq, Tk] = scale · qh · khᵀ
        if Tq == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(Tk), Int32(D), scale, kh, Int32(kStride), qh, 1, 0, scores, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(Tq), Int32(Tk), Int32(D),
                        scale, qh, Int32(qStride), kh, Int32(kStride), 0, scores, Int32(Tk))
        }
        // Rows are independent: large score matrices (encoders) are normalized on all engine threads.
        nonisolated(unsafe) let scoresP = scores
        EngineThreads.parallelChunks(Tq, minChunk: max(1, 65536 / max(Tk, 1))) { rows in
            for i in rows {
                let row = scoresP + i * Tk
                if let off = causalOffset {
                    let last = off + i
                    if last + 1 < Tk { for j in (last + 1)..<Tk { row[j] = -Float.infinity } }
                }
                softmaxInPlaceFast(row, count: Tk)     // exp8: libm expf was most of a Whisper cross-attention step
            }
        }
        // out_h[Tq, D] = scores · vh
        let oh = out + h * D
        if Tq == 1 {
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(Tk), Int32(D), 1, vh, Int32(vStride), scores, 1, 0, oh, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(Tq), Int32(D), Int32(Tk),
                        1, scores, Int32(Tk), vh, Int32(vStride), 0, oh, Int32(outStride))
        }
    }
}
