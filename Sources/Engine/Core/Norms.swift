/// Layer normalization over the last dimension: x[T, D] → y[T, D]. In place is allowed (y == x).
public func layerNorm(_ x: UnsafePointer<Float>, rows T: Int, dim D: Int,
                      gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?, eps: Float = 1e-5,
                      into y: UnsafeMutablePointer<Float>) {
    for t in 0..<T {
        let xr = x + t * D, yr = y + t * D
        var mean: Float = 0
        for i in 0..<D { mean += xr[i] }
        mean /= Float(D)
        var variance: Float = 0
        for i in 0..<D { let d = xr[i] - mean; variance += d * d }
        variance /= Float(D)
        let inv = 1 / (variance + eps).squareRoot()
        for i in 0..<D {
            var v = (xr[i] - mean) * inv
            if let gamma { v *= gamma[i] }
            if let beta { v += beta[i] }
            yr[i] = v
        }
    }
}

/// RMS normalization over the last dimension: y = x / sqrt(mean(x²) + eps) · w. In place is allowed.
public func rmsNorm(_ x: UnsafePointer<Float>, rows T: Int, dim D: Int, weight: UnsafePointer<Float>, eps: Float,
                    into y: UnsafeMutablePointer<Float>) {
    for t in 0..<T {
        let xr = x + t * D, yr = y + t * D
        var ss: Float = 0
        for i in 0..<D { ss += xr[i] * xr[i] }
        let inv = 1 / (ss / Float(D) + eps).squareRoot()
        for i in 0..<D { yr[i] = xr[i] * inv * weight[i] }
    }
}
