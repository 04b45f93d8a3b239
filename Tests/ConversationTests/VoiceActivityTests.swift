import Engine
import XCTest

final class VoiceActivityTests: XCTestCase {
    struct Run {
        var events: [(frameEnd: Int, event: VoiceActivityEvent)] = []
        var utterances: [VoiceUtterance] {
            events.compactMap { if case .speechEnded(let u) = $0.event { return u } else { return nil } }
        }
        var starts: [Int] {
            events.compactMap { if case .speechStarted(let s) = $0.event { return s } else { return nil } }
        }
    }

    /// Feeds `signal` frame by frame and keeps each event with the sample position at which it came.
    func run(_ signal: [Float], _ parameters: EnergyVAD.Parameters = .init(), finish: Bool = true) -> Run {
        let vad = EnergyVAD(parameters)
        var run = Run()
        let f = vad.frameSize
        var i = 0
        signal.withUnsafeBufferPointer { buf in
            while i + f <= buf.count {
                if let e = vad.process(UnsafeBufferPointer(rebasing: buf[i..<(i + f)])) { run.events.append((i + f, e)) }
                i += f
            }
        }
        if finish, let e = vad.finish() { run.events.append((i, e)) }
        return run
    }

    func testSilenceMakesNoTurn() {
        let r = run(TestSignals.silence(5) + TestSignals.whiteNoise(5, rms: 0.0003))
        XCTAssertTrue(r.events.isEmpty, "\(r.events)")
    }

    func testSteadyNoiseMakesNoTurn() {
        // Noise switched on abruptly after quiet: white, then pink (fan-like), at -30 dBFS.
        var signal = TestSignals.whiteNoise(1, rms: 0.0005)
        signal += TestSignals.whiteNoise(4, rms: 0.03, seed: 11)
        signal += TestSignals.pinkNoise(4, rms: 0.03, seed: 12)
        let r = run(signal)
        XCTAssertTrue(r.utterances.isEmpty, "noise opened a turn: \(r.events.map(\.event))")
    }

    func testCoughsAndClicksMakeNoTurn() {
        var signal = TestSignals.whiteNoise(6, rms: 0.001, seed: 5)
        for (k, t) in [0.5, 1.7, 3.0].enumerated() {
            TestSignals.mix(&signal, TestSignals.cough(rms: 0.1, seed: UInt64(20 + k)), at: Int(t * 16000))
        }
        for t in stride(from: 4.0, to: 5.5, by: 0.25) {
            TestSignals.mix(&signal, TestSignals.click(amplitude: 0.8), at: Int(t * 16000))
        }
        let r = run(signal)
        XCTAssertTrue(r.utterances.isEmpty, "coughs/clicks opened a turn: \(r.events.map(\.event))")
    }

    func testTwoUtterancesSeparatedByAPauseMakeTwoTurnsWithPreRoll() throws {
        let q1 = try TestSignals.fixture("question-tokyo")
        let q2 = try TestSignals.fixture("interruption-joke")
        var signal = TestSignals.whiteNoise(7, rms: 0.002, seed: 9)     // -54 dBFS room noise
        let at1 = Int(1.0 * 16000), at2 = at1 + q1.count + Int(1.0 * 16000)
        TestSignals.mix(&signal, q1, at: at1)
        TestSignals.mix(&signal, q2, at: at2)
        let r = run(signal)
        let u = r.utterances
        XCTAssertEqual(u.count, 2, "\(r.events.map(\.event))")
        guard u.count == 2 else { return }
        let onset1 = at1 + TestSignals.onset(q1), onset2 = at2 + TestSignals.onset(q2)
        for (utt, onset) in zip(u, [onset1, onset2]) {
            // Pre-roll: the utterance starts 300 ms before the first speech frame, so before the onset.
            XCTAssertEqual(utt.speechStart - utt.firstSample, 4800)
            XCTAssertLessThanOrEqual(utt.firstSample, onset - 2400, "first syllable clipped")
            XCTAssertLessThanOrEqual(abs(utt.speechStart - onset), 1600, "speech start far from the onset")
        }
        // The whole of each question is inside its utterance.
        let end1 = at1 + q1.count, end2 = at2 + q2.count
        XCTAssertGreaterThan(u[0].firstSample + u[0].samples.count, end1 - 3200)
        XCTAssertLessThan(u[0].firstSample + u[0].samples.count, at2)
        XCTAssertGreaterThan(u[1].firstSample + u[1].samples.count, end2 - 3200)
    }

    func testHangoverDecidesWhereATurnEnds() throws {
        let word = TestSignals.voiced(0.6, rms: 0.05)
        // Two bursts 0.35 s apart: one turn with the default 0.5 s hangover, two with 0.2 s.
        var signal = TestSignals.whiteNoise(0.5, rms: 0.001)
        signal += word + TestSignals.whiteNoise(0.35, rms: 0.001, seed: 4) + word + TestSignals.whiteNoise(1.5, rms: 0.001, seed: 6)
        let long = run(signal)
        XCTAssertEqual(long.utterances.count, 1, "\(long.events.map(\.event))")
        var p = EnergyVAD.Parameters(); p.hangover = 0.2; p.trailingSilence = 0.1
        let short = run(signal, p)
        XCTAssertEqual(short.utterances.count, 2, "\(short.events.map(\.event))")

        // The turn is taken one hangover after the last speech frame, not before.
        guard let end = long.events.first(where: { if case .speechEnded = $0.event { return true } else { return false } }),
              let utt = long.utterances.first else { return XCTFail("no turn") }
        let waited = Double(end.frameEnd - utt.speechEnd) / 16000
        XCTAssertEqual(waited, 0.5, accuracy: 0.021)
        // ...and keeps 0.2 s of the trailing silence.
        XCTAssertEqual(utt.firstSample + utt.samples.count - utt.speechEnd, 3200)
        // Pauses are announced 0.1 s in (for early recognition): at the inner pause and at the end; the
        // last announcement holds the utterance handed out at the end, up to 0.1 s after its last speech frame.
        let paused = long.events.compactMap { if case .speechPaused(let u) = $0.event { return u } else { return nil } }
        XCTAssertEqual(paused.count, 2)
        guard let last = paused.last else { return }
        XCTAssertEqual(last.speechStart, utt.speechStart)
        XCTAssertEqual(last.speechEnd, utt.speechEnd)
        XCTAssertEqual(last.firstSample, utt.firstSample)
        XCTAssertEqual(last.firstSample + last.samples.count - last.speechEnd, 1600)
        XCTAssertTrue(last.samples == Array(utt.samples.prefix(last.samples.count)), "the announcement is not a prefix of the turn")
    }

    func testTooShortSpeechIsDiscarded() {
        var signal = TestSignals.whiteNoise(0.5, rms: 0.001)
        signal += TestSignals.voiced(0.16, rms: 0.05, syllable: 0.16)
        signal += TestSignals.whiteNoise(1.5, rms: 0.001, seed: 8)
        let r = run(signal)
        XCTAssertTrue(r.utterances.isEmpty, "\(r.events.map(\.event))")
    }

    func testSpeechInSteadyNoiseIsFound() {
        var signal = TestSignals.pinkNoise(6, rms: 0.01, seed: 31)
        TestSignals.mix(&signal, TestSignals.voiced(1.5, rms: 0.05), at: 3 * 16000)
        let r = run(signal)
        XCTAssertEqual(r.utterances.count, 1, "\(r.events.map(\.event))")
        if let u = r.utterances.first {
            XCTAssertEqual(Double(u.speechStart) / 16000, 3.0, accuracy: 0.1)
        }
    }

    func testFrameSizesOf10And30Milliseconds() throws {
        let q1 = try TestSignals.fixture("question-tokyo")
        var signal = TestSignals.whiteNoise(4, rms: 0.002, seed: 9)
        TestSignals.mix(&signal, q1, at: 8000)
        for ms in [0.01, 0.03] {
            var p = EnergyVAD.Parameters(); p.frameDuration = ms
            XCTAssertEqual(run(signal, p).utterances.count, 1, "frame \(ms) s")
        }
    }
}
