import COpenBLAS

/// 1-D convolution in channels-first layout, as PyTorch's Conv1d:
///
///   x [Cin, Tin]  W [Cout, Cin/groups, K]  b [Cout]  →  y [Cout, Tout]
///   Tout = (Tin + 2·pad − dilation·(K−1) − 1) / stride + 1
///
/// im2col into `columns` (scratch of at least (Cin/groups)·K·Tout floats), then one sgemm per group.
public func conv1d(_ x: UnsafePointer<Float>, channels Cin: Int, length Tin: Int,
                   weight W: UnsafePointer<Float>, bias b: UnsafePointer<Float>?, outChannels Cout: Int, kernel K: Int,
                   stride: Int = 1, padding pad: Int = 0, dilation: Int = 1, groups: Int = 1,
                   into y: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>) {
    let Tout = conv1dOutputLength(Tin, kernel: K, stride: stride, padding: pad, dilation: dilation)
    let cinG = Cin / groups, coutG = Cout / groups
    for g in 0..<groups {
        let xg = x + g * cinG * Tin
        if K == 1 && stride == 1 && pad == 0 {
            // Pointwise: no im2col needed.
            sgemm(M: coutG, N: Tout, K: cinG, W + g * coutG * cinG, lda: cinG, xg, ldb: Tin, y + g * coutG * Tout, ldc: Tout)
            continue
        }
        // columns[(c·K + k), t] = x[c, t·stride − pad + k·dilation]
        for c in 0..<cinG {
            let xc = xg + c * Tin
            for kk in 0..<K {
                let col = columns + (c * K + kk) * Tout
                let shift = kk * dilation - pad
                if stride == 1 {
                    // Contiguous: zeros where the tap falls in the padding, one copy for the rest.
                    let lo = min(Tout, max(0, -shift)), hi = max(lo, min(Tout, Tin - shift))
                    if lo > 0 { col.update(repeating: 0, count: lo) }
                    if hi > lo { (col + lo).update(from: xc + lo + shift, count: hi - lo) }
                    if hi < Tout { (col + hi).update(repeating: 0, count: Tout - hi) }
                    continue
                }
                for t in 0..<Tout {
                    let s = t * stride + shift
                    col[t] = (s >= 0 && s < Tin) ? xc[s] : 0
                }
            }
        }
        sgemm(M: coutG, N: Tout, K: cinG * K, W + g * coutG * cinG * K, lda: cinG * K, columns, ldb: Tout,
              y + g * coutG * Tout, ldc: Tout)
    }
    if let b {
        for o in 0..<Cout {
            let row = y + o * Tout, bo = b[o]
            for t in 0..<Tout { row[t] += bo }
        }
    }
}

@inline(__always)
public func conv1dOutputLength(_ Tin: Int, kernel K: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1) -> Int {
    (Tin + 2 * padding - dilation * (K - 1) - 1) / stride + 1
}

/// Transposed 1-D convolution, as PyTorch's ConvTranspose1d (groups = 1):
///
///   x [Cin, Tin]  W [Cin, Cout, K]  b [Cout]  →  y [Cout, Tout],  Tout = (Tin − 1)·stride − 2·pad + K
///
/// One sgemm gives cols[(o·K + k), t] = Σc W[c, o, k] · x[c, t]; then col2im scatters with the stride.
/// `columns` is scratch of at least Cout·K·Tin floats.
public func convTranspose1d(_ x: UnsafePointer<Float>, channels Cin: Int, length Tin: Int,
                            weight W: UnsafePointer<Float>, bias b: UnsafePointer<Float>?, outChannels Cout: Int, kernel K: Int,
                            stride: Int, padding pad: Int,
                            into y: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>) {
    let Tout = (Tin - 1) * stride - 2 * pad + K
    sgemm(transA: true, M: Cout * K, N: Tin, K: Cin, W, lda: Cout * K, x, ldb: Tin, columns, ldc: Tin)
    for o in 0..<Cout {
        let yo = y + o * Tout
        let bo: Float = b?[o] ?? 0
        for t in 0..<Tout { yo[t] = bo }
        for kk in 0..<K {
            let col = columns + (o * K + kk) * Tin
            for t in 0..<Tin {
                let s = t * stride - pad + kk
                if s >= 0 && s < Tout { yo[s] += col[t] }
            }
        }
    }
}
