import Foundation

/// Windowed-sinc (Kaiser) polyphase resampler for any rational ratio (16 000, 22 050, 44 100,
/// 48 000 Hz in any direction). The cutoff sits just below the lower Nyquist frequency, so
/// downsampling does not alias. Output length is exactly round(n · to / from).
public struct Resampler: Sendable {
    public let from: Int, to: Int
    let up: Int, down: Int          // to/from reduced: output sample j sits at input position j·down/up
    let taps: Int                   // filter half-width in input samples (per side), scaled for downsampling
    let phases: [[Float]]           // [up][2·taps] filter coefficients, one row per fractional phase

    public init(from: Int, to: Int, quality halfWidth: Int = 32) {
        precondition(from > 0 && to > 0)
        self.from = from; self.to = to
        let g = Resampler.gcd(from, to)
        up = to / g; down = from / g
        let cutoff = 0.97 * min(1.0, Double(to) / Double(from))   // fraction of input Nyquist
        taps = Int((Double(halfWidth) / cutoff).rounded(.up))
        let beta = 8.6
        var ph: [[Float]] = []
        for p in 0..<up {
            let frac = Double(p) / Double(up)
            var row = [Float](repeating: 0, count: 2 * taps)
            var sum = 0.0
            var vals = [Double](repeating: 0, count: 2 * taps)
            for k in 0..<(2 * taps) {
                let x = Double(k - taps + 1) - frac          // distance from the output position, in input samples
                let w = Resampler.kaiser(x / Double(taps), beta: beta)
                let s = x == 0 ? 1.0 : sin(Double.pi * cutoff * x) / (Double.pi * cutoff * x)
                vals[k] = cutoff * s * w
                sum += vals[k]
            }
            for k in 0..<(2 * taps) { row[k] = Float(vals[k] / sum) }   // unity DC gain per phase
            ph.append(row)
        }
        phases = ph
    }

    public static func resample(_ x: [Float], from: Int, to: Int) -> [Float] {
        if from == to { return x }
        return Resampler(from: from, to: to).process(x)
    }

    /// Resamples a whole signal (zero-padded at both ends).
    public func process(_ x: [Float]) -> [Float] {
        if from == to { return x }
        let n = x.count
        let outCount = Int((Double(n) * Double(up) / Double(down)).rounded())
        var y = [Float](repeating: 0, count: outCount)
        x.withUnsafeBufferPointer { xp in
            for j in 0..<outCount {
                let num = j * down
                let base = num / up, p = num % up
                let row = phases[p]
                var s: Float = 0
                let start = base - taps + 1
                if start >= 0 && start + 2 * taps <= n {
                    for k in 0..<(2 * taps) { s += row[k] * xp[start + k] }
                } else {
                    for k in 0..<(2 * taps) {
                        let i = start + k
                        if i >= 0 && i < n { s += row[k] * xp[i] }
                    }
                }
                y[j] = s
            }
        }
        return y
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    static func kaiser(_ t: Double, beta: Double) -> Double {
        if abs(t) > 1 { return 0 }
        return besselI0(beta * (1 - t * t).squareRoot()) / besselI0(beta)
    }

    static func besselI0(_ x: Double) -> Double {
        var sum = 1.0, term = 1.0, k = 1.0
        while term > 1e-12 * sum { term *= (x / (2 * k)) * (x / (2 * k)); sum += term; k += 1 }
        return sum
    }
}
