import Foundation

/// Exact GELU: x · Φ(x) = 0.5 x (1 + erf(x / √2)).
public func geluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { let v = x[i]; x[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
}

/// SiLU: x · σ(x).
public func siluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { let v = x[i]; x[i] = v / (1 + expf(-v)) }
}

public func reluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count where x[i] < 0 { x[i] = 0 }
}

public func leakyReluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, slope: Float) {
    for i in 0..<count where x[i] < 0 { x[i] *= slope }
}

public func tanhInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { x[i] = tanhf(x[i]) }
}

/// Numerically stable softmax over `count` values, in place.
public func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    var m = -Float.infinity
    for i in 0..<count where x[i] > m { m = x[i] }
    var s: Float = 0
    for i in 0..<count { let e = expf(x[i] - m); x[i] = e; s += e }
    let inv = 1 / s
    for i in 0..<count { x[i] *= inv }
}

/// log-softmax over `count` values, in place.
public func logSoftmaxInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    var m = -Float.infinity
    for i in 0..<count where x[i] > m { m = x[i] }
    var s: Float = 0
    for i in 0..<count { s += expf(x[i] - m) }
    let lse = m + logf(s)
    for i in 0..<count { x[i] -= lse }
}

/// y += x
public func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { y[i] += x[i] }
}
