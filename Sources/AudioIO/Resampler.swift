import Foundation

/// Windowed-sinc (Kaiser) polyphase resampler for any rational ratio (16 000, 22 050, 44 100,
/// 48 000 Hz in any direction). The cutoff sits just below the lower Nyquist frequency, so
/// downsampling does not alias. Output length is exactly round(n · to / from).
public struct Resampler: Sendable {
    public let from: Int, to: Int
    let up: Int, down: Int          // to/from reduced: output sample j sits at input position j·down/up
    let taps: Int                   // filter half-width in input samples (per side), scaled for downsampling
    let phases: [[Float]]           // [rows][2·taps] filter coefficients, one row per fractional phase
    let rows: Int                   // phase rows: `up` (exact) where `phaseRows` allows, else fewer

    /// Most phase rows in the table. Common rates need few (44.1 kHz → 16 kHz: 160, 11.025 kHz → 16 kHz: 640); an odd
    /// rate in a file's header (1 kHz to 768 kHz, e.g. 767 999 Hz → 16 kHz: 16 000 phases of 3 168 taps, 50 M
    /// coefficients and seconds of Bessel functions, found by fuzzing) gets the nearest of `rows` phases below the
    /// exact one instead: a timing error under 1/`rows` of an input sample.
    static func phaseRows(up: Int, taps: Int) -> Int { min(up, 1024, max(64, (1 << 21) / (2 * taps))) }

    /// The table row of phase `p` (0..<up): itself where the table is exact (no division per output sample).
    @inline(__always) func phaseRow(_ p: Int) -> Int { rows == up ? p : p * rows / up }

    public init(from: Int, to: Int, quality halfWidth: Int = 32) {
        precondition(from > 0 && to > 0)
        self.from = from; self.to = to
        let g = Resampler.gcd(from, to)
        up = to / g; down = from / g
        let cutoff = 0.97 * min(1.0, Double(to) / Double(from))   // fraction of input Nyquist
        taps = Int((Double(halfWidth) / cutoff).rounded(.up))
        let beta = 8.6
        rows = Resampler.phaseRows(up: up, taps: taps)
        var ph: [[Float]] = []
        for p in 0..<rows {
            let frac = Double(p) / Double(rows)
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
                let row = phases[phaseRow(p)]
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

    /// One output sample: the filter row of output `j` over the input it covers. `input` holds the samples from
    /// index `first` on; indices outside `0..<n` are zero padding (skipped, as in `process`).
    @inline(__always)
    func output(_ j: Int, _ input: UnsafeBufferPointer<Float>, first: Int, n: Int) -> Float {
        let num = j * down
        let base = num / up, p = num % up
        let start = base - taps + 1
        var s: Float = 0
        phases[phaseRow(p)].withUnsafeBufferPointer { row in
            if start >= 0 && start + 2 * taps <= n {
                let x = input.baseAddress! + (start - first)
                for k in 0..<(2 * taps) { s += row[k] * x[k] }
            } else {
                for k in 0..<(2 * taps) {
                    let i = start + k
                    if i >= 0 && i < n { s += row[k] * input[i - first] }
                }
            }
        }
        return s
    }

    /// A signal that arrives in pieces (a file decoded in chunks), resampled as it comes: the same samples as
    /// `process` on the whole signal, holding only the input the filter still needs.
    public struct Stream: Sendable {
        public let resampler: Resampler
        private var window: [Float] = []      // input samples from index `first` on
        private var first = 0
        private var received = 0
        private var next = 0                  // the next output sample's index

        public init(from: Int, to: Int) { self.init(Resampler(from: from, to: to)) }
        public init(_ resampler: Resampler) { self.resampler = resampler }

        /// Appends the output that `x` completes to `out`.
        public mutating func push(_ x: UnsafeBufferPointer<Float>, into out: inout [Float]) {
            let r = resampler
            if r.from == r.to { out.append(contentsOf: x); return }
            window.append(contentsOf: x)
            received += x.count
            // Output j reads input (j·down/up) − taps + 1 through (j·down/up) + taps: it is complete once that has come.
            var j = next
            window.withUnsafeBufferPointer { w in
                while (j * r.down) / r.up + r.taps < received {
                    out.append(r.output(j, w, first: first, n: .max))
                    j += 1
                }
            }
            next = j
            let keepFrom = max(0, (next * r.down) / r.up - r.taps + 1)
            let drop = min(keepFrom - first, window.count)
            // Dropped only once it is at least half the window: each input sample is moved O(1) times.
            if drop > 0 && drop * 2 >= window.count {
                window.removeFirst(drop)
                first += drop
            }
        }

        /// The rest of the output, the signal zero-padded at its end: `process`'s length, round(n · to / from).
        public mutating func finish(into out: inout [Float]) {
            let r = resampler
            guard r.from != r.to else { return }
            let n = received
            let count = Int((Double(n) * Double(r.up) / Double(r.down)).rounded())
            window.withUnsafeBufferPointer { w in
                while next < count { out.append(r.output(next, w, first: first, n: n)); next += 1 }
            }
        }
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
