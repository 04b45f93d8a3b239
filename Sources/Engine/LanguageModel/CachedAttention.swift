import CKernels
import Foundation

/// Causal grouped-query attention of T new queries over the key/value cache, parallel over heads on the
/// engine threads.
///
/// Why not Core's `attention()`: that one is OpenBLAS per head, and after any multi-threaded OpenBLAS call its
/// workers spin in sched_yield, taking the second core from the quantized matmul threads (a third of the decode
/// time of SmolLM2 went to the scheduler). Decode attention is one query against ≤ ctx keys of 64 values: plain
/// SIMD loops are as fast as BLAS for it and stay on our threads.
///
///   q     [T, Hq·hd]   (row stride qStride)        keys, values [ctx, Hkv·hd] (row stride kvStride)
///   out   [T, Hq·hd]                               scores: scratch [Hq, ctx]
/// Query row t sits at position pos0 + t and sees keys 0...pos0+t.
func cachedAttention(q: UnsafePointer<Float>, qStride: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                     kvStride: Int, out: UnsafeMutablePointer<Float>, rows T: Int, pos0: Int,
                     heads: Int, kvHeads: Int, headDim hd: Int, scale: Float, scores: UnsafeMutablePointer<Float>, ctx: Int) {
    let group = heads / kvHeads
    nonisolated(unsafe) let out = out, scores = scores
    SpinningPool.shared.parallelChunks(heads) { range in
        for h in range {
            let g = h / group
            let s = scores + h * ctx
            for t in 0..<T {
                let qh = q + t * qStride + h * hd
                let n = pos0 + t + 1
                // s[j] = scale · q·k_j
                var m = -Float.infinity
                for j in 0..<n {
                    let d = dot(qh, keys + j * kvStride + g * hd, hd) * scale
                    s[j] = d
                    if d > m { m = d }
                }
                // softmax as ggml_soft_max: the sum in double, the weights scaled by its float inverse, then rounded to
                // half precision, as llama.cpp's KQ·V product (f16 V cache) converts them before the dot products.
                var z: Double = 0
                for j in 0..<n { let e = expf(s[j] - m); s[j] = e; z += Double(e) }
                let inv = Float(1 / z)
                for j in 0..<n { s[j] *= inv }
                confab_round_f16(s, n)
                // out = Σ_j softmax_j · v_j
                let o = out + t * hd * heads + h * hd
                weightedSum(s, n, values + g * hd, kvStride, hd, into: o)
            }
        }
    }
}

/// Dot product with 8-wide partial sums (a scalar float reduction does not vectorize).
@inline(__always) private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 8 <= n {
        acc += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// o[0..<hd] = Σ_j w[j] · v[j·stride ..< j·stride + hd], each element summed over j in order (mul, then add), as the
/// plain loop does; 32 elements at a time in four SIMD8 registers so o is not read and written back per key.
@inline(__always) private func weightedSum(_ w: UnsafePointer<Float>, _ n: Int, _ v: UnsafePointer<Float>, _ stride: Int,
                                           _ hd: Int, into o: UnsafeMutablePointer<Float>) {
    let rv = UnsafeRawPointer(v)
    var i0 = 0
    while i0 + 32 <= hd {
        var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
        for j in 0..<n {
            let wj = SIMD8<Float>(repeating: w[j])
            let b = 4 * (j * stride + i0)
            a0 += wj * rv.loadUnaligned(fromByteOffset: b, as: SIMD8<Float>.self)
            a1 += wj * rv.loadUnaligned(fromByteOffset: b + 32, as: SIMD8<Float>.self)
            a2 += wj * rv.loadUnaligned(fromByteOffset: b + 64, as: SIMD8<Float>.self)
            a3 += wj * rv.loadUnaligned(fromByteOffset: b + 96, as: SIMD8<Float>.self)
        }
        let ro = UnsafeMutableRawPointer(o)
        ro.storeBytes(of: a0, toByteOffset: 4 * i0, as: SIMD8<Float>.self)
        ro.storeBytes(of: a1, toByteOffset: 4 * i0 + 32, as: SIMD8<Float>.self)
        ro.storeBytes(of: a2, toByteOffset: 4 * i0 + 64, as: SIMD8<Float>.self)
        ro.storeBytes(of: a3, toByteOffset: 4 * i0 + 96, as: SIMD8<Float>.self)
        i0 += 32
    }
    if i0 < hd {
        (o + i0).update(repeating: 0, count: hd - i0)
        for j in 0..<n {
            let wj = w[j]
            let vj = v + j * stride
            for i in i0..<hd { o[i] += wj * vj[i] }
        }
    }
}
