import Foundation

// Element-wise helpers of the Piper voice on 8 lanes (exp8: libm's scalar tanhf and expf were 5% of synthesis).

@inline(__always)
func tanh8(_ v: SIMD8<Float>) -> SIMD8<Float> {
    // 1 − 2/(e^{2v} + 1): exp8 saturates at ±88, which gives ±1; the absolute error is ~1e-7.
    1 - 2 / (exp8(v + v) + 1)
}

@inline(__always)
func sigmoid8(_ v: SIMD8<Float>) -> SIMD8<Float> { 1 / (1 + exp8(-v)) }

/// a[i] = tanh(a[i]) · σ(b[i]) (WaveNet's gated activation).
func gatedTanhSigmoid(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) {
    let ra = UnsafeMutableRawPointer(a), rb = UnsafeRawPointer(b)
    var i = 0
    while i + 8 <= n {
        let x = ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        let y = rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        ra.storeBytes(of: tanh8(x) * sigmoid8(y), toByteOffset: 4 * i, as: SIMD8<Float>.self)
        i += 8
    }
    if i < n {
        var x = SIMD8<Float>(repeating: 0), y = x
        for j in i..<n { x[j - i] = a[j]; y[j - i] = b[j] }
        let r = tanh8(x) * sigmoid8(y)
        for j in i..<n { a[j] = r[j - i] }
    }
}

/// x = tanh(x) in place.
func tanhInPlaceFast(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    let r = UnsafeMutableRawPointer(x)
    var i = 0
    while i + 8 <= n {
        r.storeBytes(of: tanh8(r.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)), toByteOffset: 4 * i, as: SIMD8<Float>.self)
        i += 8
    }
    if i < n {
        var v = SIMD8<Float>(repeating: 0)
        for j in i..<n { v[j - i] = x[j] }
        let t = tanh8(v)
        for j in i..<n { x[j] = t[j - i] }
    }
}

/// x[c, t] += bias[c] for rows `ld` apart.
func addRowBias(_ x: UnsafeMutablePointer<Float>, rows: Int, ld: Int, length T: Int, bias: UnsafePointer<Float>) {
    for c in 0..<rows {
        let row = x + c * ld, b = bias[c]
        for t in 0..<T { row[t] += b }
    }
}
