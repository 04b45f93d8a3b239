import Foundation
import CKernels

/// e^x on 8 lanes: Cephes expf range reduction (x = n·ln2 + r) and its degree-6 polynomial; relative error
/// ≈ 1e-7 (a couple of ulp), no branches, so a softmax row vectorizes instead of calling libm per element.
/// Inputs below −87.3 (including −∞) give ≈ 1e-38, which a softmax treats as zero.
@inline(__always)
public func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    var x = x
    x.replace(with: -87.3, where: x .< -87.3)
    x.replace(with: 88.3, where: x .> 88.3)
    // n = round(x·log2 e) by the 1.5·2²³ trick: the sum's low mantissa bits hold n (generic SIMD float→int
    // conversions compile to per-lane calls).
    let magic = SIMD8<Float>(repeating: 12582912)
    let t = x * 1.44269504088896341 + magic
    let n = t - magic
    let r = x - n * 0.693359375 + n * 2.12194440e-4
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let y = p * r * r + r + 1
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    return y * unsafeBitCast((ni &+ 127) &<< 23, to: SIMD8<Float>.self)
}

/// Softmax over `count` values in place with exp8 (long rows: attention over audio frames).
public func softmaxInPlaceFast(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    guard n > 0 else { return }
    let m = maxFast(x, count: n)
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

/// Largest of `count` values, on 8 lanes (a scalar `max` loop with a branch does not vectorize).
@inline(__always)
public func maxFast(_ x: UnsafePointer<Float>, count n: Int) -> Float {
    let raw = UnsafeRawPointer(x)
    var acc = SIMD8<Float>(repeating: -Float.infinity)
    var i = 0
    while i + 8 <= n {
        let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        acc.replace(with: v, where: v .> acc)          // (the generic pointwiseMax is an out-of-line call)
        i += 8
    }
    var m = acc.max()
    while i < n { m = Swift.max(m, x[i]); i += 1 }
    return m
}

/// log Σ e^x over `count` values with exp8: the normalizer of a log-softmax (Whisper's 51864-token rows, several
/// per decoding step, where libm's scalar expf was 14% of beam-search decoding). −∞ entries add nothing.
public func logSumExpFast(_ x: UnsafePointer<Float>, count n: Int) -> Float {
    let m = maxFast(x, count: n)
    guard m > -Float.infinity else { return -Float.infinity }
    let raw = UnsafeRawPointer(x)
    let mv = SIMD8<Float>(repeating: m)
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        acc += exp8(raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - mv)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += expf(x[i] - m); i += 1 }
    return m + logf(s)
}

/// log-softmax over `count` values in place, with exp8.
public func logSoftmaxInPlaceFast(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    guard n > 0 else { return }
    let lse = logSumExpFast(x, count: n)
    let raw = UnsafeMutableRawPointer(x)
    let l = SIMD8<Float>(repeating: lse)
    var i = 0
    while i + 8 <= n {
        raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - l, toByteOffset: 4 * i, as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { x[i] -= lse; i += 1 }
}

/// Exact-form GELU x·Φ(x) = ½x(1 + erf(x/√2)) with erf from Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7, float
/// precision; GELU within 4e-7 of the exact value on [−10, 10]), in C (gelu.c): 16 lanes with AVX-512, 8 with AVX2,
/// picked at run time. libm's scalar erff was 7% of a Whisper encoder pass; the 8-lane Swift version this replaces
/// was 2.9× slower than the AVX-512 one (1.4 against 0.49 ns per value on one Xeon core).
public func geluInPlaceFast(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    confab_gelu(-1, x, n)
}

/// The same with a given variant (2 AVX-512, 1 AVX2, 0 plain C; above what the CPU has runs as the best it has): tests.
func geluInPlaceFast(_ x: UnsafeMutablePointer<Float>, count n: Int, variant: Int32) {
    confab_gelu(variant, x, n)
}
