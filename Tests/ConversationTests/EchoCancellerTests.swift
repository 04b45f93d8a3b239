import Engine
import XCTest

final class EchoCancellerTests: XCTestCase {
    func energy(_ x: ArraySlice<Float>) -> Double { x.reduce(0.0) { $0 + Double($1) * Double($1) } }

    /// Runs the canceller over whole signals, frame by frame.
    func cancel(near: [Float], far: [Float], frame: Int = 320) throws -> [Float] {
        let aec = try EchoCanceller(sampleRate: 16000, frameSize: frame, tail: 0.3)
        var out = [Float](repeating: 0, count: near.count)
        var i = 0
        while i + frame <= near.count {
            near.withUnsafeBufferPointer { n in far.withUnsafeBufferPointer { f in out.withUnsafeMutableBufferPointer { o in
                aec.process(near: n.baseAddress! + i, far: f.baseAddress! + i, out: o.baseAddress! + i)
            } } }
            i += frame
        }
        return out
    }

    /// The far end (the assistant's voice) as heard by the microphone: 40 ms late, attenuated, with
    /// a weaker reflection 25 ms after that, plus room noise.
    func roomEcho(_ far: [Float]) -> [Float] {
        var near = TestSignals.whiteNoise(Double(far.count) / 16000, rms: 0.0005, seed: 99)
        for i in far.indices {
            if i >= 640 { near[i] += 0.5 * far[i - 640] }
            if i >= 1040 { near[i] += -0.2 * far[i - 1040] }
        }
        return near
    }

    func testEchoIsStronglyReducedAndNearEndSpeechPasses() throws {
        let reply = try TestSignals.fixture("reply-paris")
        let question = try TestSignals.fixture("question-tokyo")
        let user = try TestSignals.fixture("interruption-joke")
        // 10 s of far-end speech; the user talks alone in 10–12 s (far end silent) and over it in 6–8 s.
        var far = reply + question + reply + question + reply
        far = Array(far.prefix(10 * 16000)) + [Float](repeating: 0, count: 3 * 16000)
        var near = roomEcho(far)
        let echoOnly = near
        TestSignals.mix(&near, user, at: 6 * 16000, gain: 0.5)
        TestSignals.mix(&near, user, at: 10 * 16000 + 8000, gain: 0.5)
        let out = try cancel(near: near, far: far)

        // ERLE over 2–6 s (after convergence, echo only).
        let a = 2 * 16000, b = 6 * 16000
        let erle = 10 * log10(energy(echoOnly[a..<b]) / max(energy(out[a..<b]), 1e-12))
        print("echo canceller: ERLE \(String(format: "%.1f", erle)) dB over 2–6 s (echo path 40 ms + 65 ms reflection)")
        XCTAssertGreaterThan(erle, 20, "ERLE \(erle) dB")

        // Near-end speech alone passes (speech-band energy kept within 6 dB).
        let c = 10 * 16000 + 8000, d = c + user.count
        let nearOnlyKept = 10 * log10(energy(out[c..<d]) / energy(near[c..<d]))
        print("echo canceller: near-end speech alone kept at \(String(format: "%.1f", nearOnlyKept)) dB")
        XCTAssertGreaterThan(nearOnlyKept, -6)

        // Double talk: the output follows the user, not the echo. (The output is one frame late: the
        // preprocessor's overlap-add.)
        let e = 6 * 16000, f = e + user.count, lag = 320
        var dot = 0.0, uu = 0.0, oo = 0.0
        for i in e..<f { let u = Double(user[i - e]) * 0.5, o = Double(out[i + lag]); dot += u * o; uu += u * u; oo += o * o }
        let correlation = dot / sqrt(uu * oo)
        let echoLeft = 10 * log10(energy(echoOnly[e..<f]) / max(energy(out[e..<f]), 1e-12))
        print("echo canceller: double talk correlation with the user \(String(format: "%.2f", correlation)), output/echo \(String(format: "%.1f", -echoLeft)) dB")
        XCTAssertGreaterThan(correlation, 0.8)
    }

    func testBadSettingsAreAnError() {
        XCTAssertThrowsError(try EchoCanceller(sampleRate: 16000, frameSize: 0))
    }
}
