import COpenBLAS
import CKernels

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
            sgemm(transB: true, M: Tq, N: Tk, K: D, alpha: scale, qh, lda: qStride, kh, ldb: kStride, scores, ldc: Tk)
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
            sgemm(M: Tq, N: D, K: Tk, scores, lda: Tk, vh, ldb: vStride, oh, ldc: outStride)
        }
    }
}

/// Attention of a few queries (a decoding step's beams) over many keys (an encoder's output), the form of
/// Whisper's cross-attention. Keys are stored transposed, so a step reads each of them once, in order, for five
/// queries at a time, with the partial sums in registers; sgemm would pack the keys again on every call (that
/// was half of a beam-5 step).
///
///   q   [R, H·hd]  (row stride qStride)       kT  [H·hd, T]  (row d: dimension d of every key; row stride T)
///   v   [T, H·hd]  (row stride vStride)       out [R, H·hd]  (row stride outStride)
///   scratch: at least H · (crossGroup · (hd + T)) floats (heads run in parallel, each on its own part)
///
/// Rows go five at a time (a shorter group is padded with zero queries).
public let crossGroup = 5

public func fewQueryAttention(q: UnsafePointer<Float>, qStride: Int, kT: UnsafePointer<Float>, keys T: Int,
                              v: UnsafePointer<Float>, vStride: Int, out: UnsafeMutablePointer<Float>, outStride: Int,
                              rows R: Int, heads H: Int, headDim hd: Int, scale: Float, scratch: UnsafeMutablePointer<Float>) {
    nonisolated(unsafe) let q = q, kT = kT, v = v, out = out, scratch = scratch
    EngineThreads.parallelChunks(H) { heads in
        for h in heads {
            let qg = scratch + h * crossGroup * (hd + T)      // [5, hd]: the group's queries, zero-padded
            let p = qg + crossGroup * hd                       // [5, T]: its scores, then probabilities
            let kh = kT + h * hd * T, vh = v + h * hd
            var r0 = 0
            while r0 < R {
                let n = min(crossGroup, R - r0)
                for i in 0..<crossGroup {
                    if i < n { (qg + i * hd).update(from: q + (r0 + i) * qStride + h * hd, count: hd) }
                    else { (qg + i * hd).update(repeating: 0, count: hd) }
                }
                groupScores(qg, kh, keys: T, headDim: hd, scale: scale, into: p)
                for i in 0..<n { softmaxInPlaceFast(p + i * T, count: T) }
                groupValues(p, vh, vStride: vStride, keys: T, headDim: hd, rows: n, into: out + r0 * outStride + h * hd, outStride: outStride)
                r0 += n
            }
        }
    }
}

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) private func store8(_ x: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: x, as: SIMD8<Float>.self)
}

/// Five rows × 16 lanes of running sums (two SIMD8 halves each): ten registers, with two vectors and five
/// broadcast factors coming in per step.
private struct FiveBy16 {
    var a0 = SIMD8<Float>(), b0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b1 = SIMD8<Float>(), a2 = SIMD8<Float>()
    var b2 = SIMD8<Float>(), a3 = SIMD8<Float>(), b3 = SIMD8<Float>(), a4 = SIMD8<Float>(), b4 = SIMD8<Float>()

    /// row i += f_i · (x | y)
    @inline(__always)
    mutating func add(_ x: SIMD8<Float>, _ y: SIMD8<Float>, times f0: Float, _ f1: Float, _ f2: Float, _ f3: Float, _ f4: Float) {
        let s0 = SIMD8(repeating: f0), s1 = SIMD8(repeating: f1), s2 = SIMD8(repeating: f2)
        let s3 = SIMD8(repeating: f3), s4 = SIMD8(repeating: f4)
        a0.addProduct(s0, x); b0.addProduct(s0, y); a1.addProduct(s1, x); b1.addProduct(s1, y)
        a2.addProduct(s2, x); b2.addProduct(s2, y); a3.addProduct(s3, x); b3.addProduct(s3, y)
        a4.addProduct(s4, x); b4.addProduct(s4, y)
    }

    /// out[i · rowStride ..< +16] = scale · row i, for the first `rows` rows.
    @inline(__always)
    func store(rows: Int, scale: Float, into o: UnsafeMutablePointer<Float>, rowStride r: Int) {
        let s = SIMD8(repeating: scale)
        store8(a0 * s, o); store8(b0 * s, o + 8)
        if rows > 1 { store8(a1 * s, o + r); store8(b1 * s, o + r + 8) }
        if rows > 2 { store8(a2 * s, o + 2 * r); store8(b2 * s, o + 2 * r + 8) }
        if rows > 3 { store8(a3 * s, o + 3 * r); store8(b3 * s, o + 3 * r + 8) }
        if rows > 4 { store8(a4 * s, o + 4 * r); store8(b4 * s, o + 4 * r + 8) }
    }
}

/// p[i, t] = scale · q[i] · k_t for the 5 rows of q [5, hd] and keys kT [hd, T]: 16 keys at a time, 10 sums in registers.
@inline(__always)
private func groupScores(_ q: UnsafePointer<Float>, _ kT: UnsafePointer<Float>, keys T: Int, headDim hd: Int, scale: Float,
                         into p: UnsafeMutablePointer<Float>) {
    let q0 = q, q1 = q + hd, q2 = q + 2 * hd, q3 = q + 3 * hd, q4 = q + 4 * hd
    var t = 0
    while t + 16 <= T {
        var sums = FiveBy16()
        var k = kT + t
        for d in 0..<hd {
            confab_prefetch(k + 64)                // each dimension's row is its own stream: fetch 4 blocks ahead
            sums.add(load8(k), load8(k + 8), times: q0[d], q1[d], q2[d], q3[d], q4[d])
            k += T
        }
        sums.store(rows: crossGroup, scale: scale, into: p + t, rowStride: T)
        t += 16
    }
    while t < T {                                  // the last keys, one at a time
        for i in 0..<crossGroup {
            var s: Float = 0
            for d in 0..<hd { s += q[i * hd + d] * kT[d * T + t] }
            p[i * T + t] = s * scale
        }
        t += 1
    }
}

/// out[i] = Σ_t p[i, t] · v_t for the first `rows` of p [5, T]: 16 dimensions at a time, 10 sums in registers.
@inline(__always)
private func groupValues(_ p: UnsafePointer<Float>, _ v: UnsafePointer<Float>, vStride: Int, keys T: Int, headDim hd: Int,
                         rows: Int, into out: UnsafeMutablePointer<Float>, outStride: Int) {
    let p0 = p, p1 = p + T, p2 = p + 2 * T, p3 = p + 3 * T, p4 = p + 4 * T
    var c = 0
    while c + 16 <= hd {
        var sums = FiveBy16()
        var vt = v + c
        for t in 0..<T {
            confab_prefetch(vt + 8 * vStride)
            sums.add(load8(vt), load8(vt + 8), times: p0[t], p1[t], p2[t], p3[t], p4[t])
            vt += vStride
        }
        sums.store(rows: rows, scale: 1, into: out + c, rowStride: outStride)
        c += 16
    }
    while c < hd {                                 // dimensions past the last 16 (heads of other sizes)
        for i in 0..<rows {
            var s: Float = 0
            for t in 0..<T { s += p[i * T + t] * v[t * vStride + c] }
            out[i * outStride + c] = s
        }
        c += 1
    }
}
