import AudioIO
import Foundation
import XCTest

/// Deterministic synthetic audio for the conversation tests (16 kHz mono unless said otherwise).
enum TestSignals {
    static let rate = 16000

    /// xorshift64*: the same noise on every run.
    struct Random {
        var state: UInt64
        init(seed: UInt64) { state = seed == 0 ? 0x9E3779B97F4A7C15 : seed }
        mutating func next() -> UInt64 {
            state ^= state >> 12; state ^= state << 25; state ^= state >> 27
            return state &* 2685821657736338717
        }
        /// Uniform in [-1, 1).
        mutating func uniform() -> Float { Float(Double(next() >> 11) / Double(1 << 53) * 2 - 1) }
        /// Approximately Gaussian (sum of 4 uniforms), unit variance.
        mutating func gaussian() -> Float { (uniform() + uniform() + uniform() + uniform()) * 0.866 }
    }

    static func silence(_ seconds: Double) -> [Float] { [Float](repeating: 0, count: Int(seconds * Double(rate))) }

    static func whiteNoise(_ seconds: Double, rms: Float, seed: UInt64 = 1) -> [Float] {
        var r = Random(seed: seed)
        return (0..<Int(seconds * Double(rate))).map { _ in r.gaussian() * rms }
    }

    /// Pink-ish noise (a leaky integrator over white noise, renormalized): more low-frequency energy, like a fan.
    static func pinkNoise(_ seconds: Double, rms: Float, seed: UInt64 = 2) -> [Float] {
        var r = Random(seed: seed)
        var y: Float = 0
        var x = (0..<Int(seconds * Double(rate))).map { _ -> Float in y = 0.97 * y + r.gaussian(); return y }
        scale(&x, toRMS: rms)
        return x
    }

    /// A cough-like burst: broadband noise with a fast attack and ~120 ms decay.
    static func cough(rms: Float, seed: UInt64 = 3) -> [Float] {
        var r = Random(seed: seed)
        let n = Int(0.35 * Double(rate))
        var y: Float = 0
        var x = (0..<n).map { i -> Float in
            y = 0.5 * y + r.gaussian()
            let t = Float(i) / Float(rate)
            return y * min(1, t / 0.01) * expf(-t / 0.12)
        }
        scale(&x, toRMS: rms)
        return x
    }

    /// A click: a 2 ms impulse-like transient.
    static func click(amplitude: Float) -> [Float] {
        (0..<32).map { i in amplitude * (i % 2 == 0 ? 1 : -1) * expf(-Float(i) / 8) }
    }

    /// Speech-like voiced sound: a harmonic series on a gliding pitch (100–140 Hz) with the glottal
    /// source's spectral tilt (-6 dB/octave) shaped by three formants, in syllables of `syllable` seconds
    /// (amplitude rising and falling like speech).
    static func voiced(_ seconds: Double, rms: Float, syllable: Double = 0.22, pitch: Double = 120) -> [Float] {
        let n = Int(seconds * Double(rate))
        var phase = 0.0
        let formants: [(Double, Double)] = [(600, 60), (1300, 90), (2500, 120)]
        var x = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let t = Double(i) / Double(rate)
            let f0 = pitch + 20 * sin(2 * Double.pi * 0.7 * t)
            phase += 2 * Double.pi * f0 / Double(rate)
            var s = 0.0
            var h = 1
            while Double(h) * f0 < 3800 {
                let f = Double(h) * f0
                var a = 0.0
                for (fc, bw) in formants { a += 1 / (1 + pow((f - fc) / bw, 2)) }
                s += a / Double(h) * sin(Double(h) * phase)
                h += 1
            }
            let syl = sin(Double.pi * (t.truncatingRemainder(dividingBy: syllable)) / syllable)
            x[i] = Float(s * syl * syl)
        }
        scale(&x, toRMS: rms)
        return x
    }

    static func rms(_ x: ArraySlice<Float>) -> Float {
        guard !x.isEmpty else { return 0 }
        return sqrtf(x.reduce(0) { $0 + $1 * $1 } / Float(x.count))
    }

    static func scale(_ x: inout [Float], toRMS target: Float) {
        let r = rms(x[...])
        guard r > 0 else { return }
        for i in x.indices { x[i] *= target / r }
    }

    /// Adds `b` into `a` starting at `offset` (growing `a` as needed).
    static func mix(_ a: inout [Float], _ b: [Float], at offset: Int, gain: Float = 1) {
        if a.count < offset + b.count { a += [Float](repeating: 0, count: offset + b.count - a.count) }
        for i in b.indices { a[offset + i] += gain * b[i] }
    }

    /// Index of the first sample above `threshold` (the onset of speech in a fixture).
    static func onset(_ x: [Float], threshold: Float = 0.02) -> Int { x.firstIndex { abs($0) > threshold } ?? 0 }

    /// A committed espeak-ng recording from Fixtures/, as 16 kHz mono.
    static func fixture(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Float] {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "wav") else {
            XCTFail("missing fixture \(name).wav", file: file, line: line)
            throw ConversationTestError("missing fixture \(name).wav")
        }
        return try AudioFile.readMono(url.path, sampleRate: rate)
    }
}

struct ConversationTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
