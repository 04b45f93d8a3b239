/// e^x on 8 lanes: Cephes expf range reduction (x = n·ln2 + r) and its degree-6 polynomial; relative error
/// ≈ 1e-7 (a couple of ulp), no branches, so a softmax row vectorizes instead of calling libm per element.
/// Inputs below −87.3 (including −∞) give ≈ 1e-38, which a softmax treats as zero.
@inline(__always)
public func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let x = x.clamped(lowerBound: SIMD8(repeating: -87.3), upperBound: SIMD8(repeating: 88.3))
    let n = (x * 1.44269504088896341).rounded(.toNearestOrEven)
    let r = x - n * 0.693359375 + n * 2.12194440e-4
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let y = p * r * r + r + 1
    let bits = (SIMD8<Int32>(n, rounding: .toNearestOrEven) &+ 127) &<< 23
    return y * unsafeBitCast(bits, to: SIMD8<Float>.self)
}

/// Softmax over `count` values in place with exp8 (long rows: attention over audio frames).
public func softmaxInPlaceFast(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    guard n > 0 else { return }
    var m = -Float.infinity
    for i in 0..<n where x[i] > m { m = x[i] }
    let raw = UnsafeMutableRawPointer(x)
    let mv = SIMD8<Float>(repeating: m)
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        let e = exp8(raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - mv)
        raw.storeBytes(of: e, toByteOffset: 4 * i, as: SIMD8<Float>.self)
        acc += e
        i += 8
    }
    var s = acc.sum()
    if i < n {
        var tail = SIMD8<Float>(repeating: -Float.infinity)
        for j in i..<n { tail[j - i] = x[j] }
        let e = exp8(tail - mv)
        for j in i..<n { x[j] = e[j - i]; s += e[j - i] }
    }
    let inv = 1 / s
    for j in 0..<n { x[j] *= inv }
}
