/// Layer normalization over channels in channels-first layout, as VITS's modules.LayerNorm
/// (which transposes to [T, C], normalizes the last dim and transposes back):
///
///   x [C, T] → y [C, T], each column t normalized over its C values; in place is allowed.
/// `stats` is scratch of at least 2·T floats. The loops run along t, so they vectorize.
public func channelLayerNorm(_ x: UnsafePointer<Float>, channels C: Int, length T: Int,
                             gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?, eps: Float = 1e-5,
                             into y: UnsafeMutablePointer<Float>, stats: UnsafeMutablePointer<Float>) {
    let mean = stats, inv = stats + T
    mean.update(repeating: 0, count: T)
    inv.update(repeating: 0, count: T)
    for c in 0..<C {
        let xr = x + c * T
        for t in 0..<T { mean[t] += xr[t] }
    }
    let invC = 1 / Float(C)
    for t in 0..<T { mean[t] *= invC }
    for c in 0..<C {
        let xr = x + c * T
        for t in 0..<T { let d = xr[t] - mean[t]; inv[t] += d * d }
    }
    for t in 0..<T { inv[t] = 1 / (inv[t] * invC + eps).squareRoot() }
    for c in 0..<C {
        let xr = x + c * T, yr = y + c * T
        let g = gamma?[c] ?? 1, b = beta?[c] ?? 0
        for t in 0..<T { yr[t] = (xr[t] - mean[t]) * inv[t] * g + b }
    }
}
