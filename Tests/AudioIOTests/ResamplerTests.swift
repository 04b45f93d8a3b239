import XCTest
@testable import AudioIO

/// Bounds the resampler is held to (Kaiser β 8.6, 32 zero crossings per side, cutoff 0.97 × the lower Nyquist):
/// - passband (up to 0.8 × the lower Nyquist frequency): gain within ±0.002 dB of unity (measured: 0.0003 dB);
/// - a sine sweep through the passband matches the ideal sweep at the new rate to better than -90 dB (error RMS; measured -98 dB);
/// - tones from 1.1 × the output Nyquist frequency up are attenuated by at least 85 dB when downsampling (measured 93.7 dB);
/// - output length is exactly round(n · to / from).
final class ResamplerTests: XCTestCase {
    static let rates = [16000, 22050, 44100, 48000]
    static var pairs: [(Int, Int)] { rates.flatMap { a in rates.compactMap { b in a == b ? nil : (a, b) } } }

    func testExactLengthsInAllDirections() {
        for (from, to) in Self.pairs {
            let r = Resampler(from: from, to: to)
            for n in [0, 1, 2, 3, 7, 100, 441, 1000, 16001, 22049, 48000] {
                let expected = (n * to + from / 2) / from       // round half up
                XCTAssertEqual(r.process([Float](repeating: 0.25, count: n)).count, expected, "\(from)→\(to), n=\(n)")
            }
        }
        XCTAssertEqual(Resampler.resample([1, 2, 3], from: 16000, to: 16000), [1, 2, 3], "same rate is the identity")
    }

    /// A signal fed in pieces (as an upload is decoded) resamples to exactly the samples of the whole signal, for
    /// every piece size, short signals (shorter than the filter) and odd rates included.
    func testStreamGivesTheWholeSignalsSamples() {
        var rng: UInt64 = 5
        func random(_ n: Int) -> Int { rng = rng &* 6364136223846793005 &+ 1442695040888963407; return Int(rng >> 33) % n }
        for (from, to) in Self.pairs + [(8000, 16000), (768_000, 16000), (11025, 16000), (16000, 16000), (44100, 7999)] {
            let r = Resampler(from: from, to: to)
            for n in [0, 1, 50, 3001, 40_000] {
                let x: [Float] = (0..<n).map { (i: Int) -> Float in
                    let tone = Float(sin(Double(i) * 0.013)) * 0.5
                    return tone + Float((i * 7919) % 101) / 400
                }
                let whole = r.process(x)
                for piece in n > 3001 ? [4096, 0] : [1, 7, 4096, 0] {      // 0: random sizes 1...5000
                    var stream = Resampler.Stream(r)
                    var out: [Float] = []
                    var i = 0
                    x.withUnsafeBufferPointer { xp in
                        while i < n {
                            let k = min(piece == 0 ? 1 + random(5000) : piece, n - i)
                            stream.push(UnsafeBufferPointer(rebasing: xp[i..<(i + k)]), into: &out)
                            i += k
                        }
                    }
                    stream.finish(into: &out)
                    XCTAssertEqual(out, whole, "\(from)→\(to), n=\(n), pieces of \(piece)")
                }
            }
        }
    }

    /// Least-squares amplitude of a sine at `freq` in `y[range]` (rate `rate`).
    func amplitude(_ y: [Float], rate: Int, freq: Double, range: Range<Int>) -> Double {
        var ss = 0.0, cc = 0.0, sc = 0.0, ys = 0.0, yc = 0.0
        for i in range {
            let w = 2 * Double.pi * freq * Double(i) / Double(rate)
            let s = sin(w), c = cos(w), v = Double(y[i])
            ss += s * s; cc += c * c; sc += s * c; ys += v * s; yc += v * c
        }
        let det = ss * cc - sc * sc
        let a = (ys * cc - yc * sc) / det, b = (yc * ss - ys * sc) / det
        return (a * a + b * b).squareRoot()
    }

    func tone(_ freq: Double, rate: Int, seconds: Double, amplitude: Float = 0.5) -> [Float] {
        (0..<Int(seconds * Double(rate))).map { amplitude * Float(sin(2 * Double.pi * freq * Double($0) / Double(rate))) }
    }

    func testPassbandRipple() {
        var worst = 0.0
        for (from, to) in Self.pairs {
            let nyq = Double(min(from, to)) / 2
            for fraction in [0.01, 0.1, 0.25, 0.5, 0.7, 0.8] {
                let f = fraction * nyq
                let y = Resampler.resample(tone(f, rate: from, seconds: 0.25), from: from, to: to)
                let edge = to / 50
                let gain = 20 * log10(amplitude(y, rate: to, freq: f, range: edge..<(y.count - edge)) / 0.5)
                worst = max(worst, abs(gain))
                XCTAssertLessThan(abs(gain), 0.002, "\(from)→\(to) at \(Int(f)) Hz: gain \(gain) dB")
            }
        }
        print("resampler: worst passband gain error \(String(format: "%.5f", worst)) dB")
    }

    func testSineSweepKeepsFrequency() {
        var worst = -1000.0
        for (from, to) in Self.pairs {
            let f0 = 50.0, f1 = 0.8 * Double(min(from, to)) / 2, T = 0.5
            func sweep(_ rate: Int) -> [Float] {
                (0..<Int(T * Double(rate))).map { i in
                    let t = Double(i) / Double(rate)
                    return 0.5 * Float(sin(2 * Double.pi * (f0 * t + (f1 - f0) * t * t / (2 * T))))
                }
            }
            let y = Resampler.resample(sweep(from), from: from, to: to)
            let ideal = sweep(to)
            let edge = to / 50
            var err = 0.0, ref = 0.0
            for i in edge..<(min(y.count, ideal.count) - edge) {
                err += Double(y[i] - ideal[i]) * Double(y[i] - ideal[i]); ref += Double(ideal[i]) * Double(ideal[i])
            }
            let db = 10 * log10(err / ref)
            worst = max(worst, db)
            XCTAssertLessThan(db, -90, "\(from)→\(to): sweep error \(db) dB")
        }
        print("resampler: worst sweep error \(String(format: "%.1f", worst)) dB")
    }

    /// An odd rate from a file's header (found by fuzzing: a FLAC claiming one took over 10 s to set up under the
    /// address sanitizer) gets a bounded phase table, and the nearest phase keeps a sweep within -60 dB of the ideal;
    /// common rates keep their exact tables.
    func testOddRatesGetABoundedPhaseTable() {
        for (from, to) in [(767_999, 16000), (44_101, 16000), (15_999, 16000), (1001, 16000)] {
            let start = Date()
            let r = Resampler(from: from, to: to)
            XCTAssertLessThan(Date().timeIntervalSince(start), 2.0, "\(from)→\(to) took \(Date().timeIntervalSince(start)) s to set up")
            XCTAssertLessThanOrEqual(r.rows, 1024)
            XCTAssertLessThanOrEqual(r.rows * 2 * r.taps, 1 << 21 + 4096)
            let f0 = 50.0, f1 = 0.8 * Double(min(from, to)) / 2, T = 0.5
            func sweep(_ rate: Int) -> [Float] {
                (0..<Int(T * Double(rate))).map { i in
                    let t = Double(i) / Double(rate)
                    return 0.5 * Float(sin(2 * Double.pi * (f0 * t + (f1 - f0) * t * t / (2 * T))))
                }
            }
            let y = r.process(sweep(from)), ideal = sweep(to)
            let edge = to / 50
            var err = 0.0, ref = 0.0
            for i in edge..<(min(y.count, ideal.count) - edge) {
                err += Double(y[i] - ideal[i]) * Double(y[i] - ideal[i]); ref += Double(ideal[i]) * Double(ideal[i])
            }
            XCTAssertLessThan(10 * log10(err / ref), -60, "\(from)→\(to)")
        }
        for (from, to) in Self.pairs + [(11025, 16000), (8000, 16000)] {
            let r = Resampler(from: from, to: to)
            XCTAssertEqual(r.rows, r.up, "\(from)→\(to) keeps its exact table")
        }
    }

    func testDownsamplingRejectsAliases() {
        var worst = -1000.0
        for (from, to) in Self.pairs where to < from {
            let outNyq = Double(to) / 2, inNyq = Double(from) / 2
            for fraction in [1.1, 1.3, 1.6, 2.0, 2.5] {
                let f = fraction * outNyq
                if f >= inNyq * 0.98 { continue }
                let y = Resampler.resample(tone(f, rate: from, seconds: 0.25), from: from, to: to)
                let edge = to / 20
                var e = 0.0
                for i in edge..<(y.count - edge) { e += Double(y[i]) * Double(y[i]) }
                let rms = (e / Double(y.count - 2 * edge)).squareRoot()
                let db = 20 * log10(max(rms, 1e-12) / (0.5 / 2.0.squareRoot()))
                worst = max(worst, db)
                XCTAssertLessThan(db, -85, "\(from)→\(to): tone at \(Int(f)) Hz leaks at \(db) dB")
            }
        }
        print("resampler: worst alias leakage \(String(format: "%.1f", worst)) dB")
    }
}
