import XCTest
import AudioIO
@testable import Engine

final class LogMelTests: XCTestCase {
    /// The fixture was computed once by faster-whisper's FeatureExtractor (scripts/asr_make_fixtures.py).
    func testLogMelMatchesFasterWhisperReference() throws {
        let audio = try AudioFile.readMono(try Fixtures.url("hello_mel.wav").path, sampleRate: 16000)
        let refData = try Data(contentsOf: try Fixtures.url("hello_mel_80.f32"))
        let ref = refData.withUnsafeBytes { raw in (0..<(raw.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) } }
        let mel = LogMelSpectrogram(nMels: 80)
        let (out, frames) = audio.withUnsafeBufferPointer { mel.compute($0) }
        XCTAssertEqual(frames, LogMelSpectrogram.frameCount(samples: audio.count))
        XCTAssertEqual(out.count, ref.count)
        XCTAssertEqual(frames, 78)
        var maxDiff: Float = 0, sumDiff: Float = 0
        for i in 0..<min(out.count, ref.count) { let d = abs(out[i] - ref[i]); maxDiff = max(maxDiff, d); sumDiff += d }
        XCTAssertLessThan(maxDiff, 2e-3, "max |confab − faster-whisper| over \(out.count) values")
        XCTAssertLessThan(sumDiff / Float(out.count), 1e-4)
    }

    func testSlaneyFilterBankShapeAndNormalization() {
        let f = LogMelSpectrogram.slaneyFilters(nMels: 128, nFFT: 400, sampleRate: 16000)
        XCTAssertEqual(f.count, 128 * 201)
        // every filter has some weight, and the first filter peaks near 2/(f2−f0) (Slaney area normalization)
        for m in 0..<128 { XCTAssertGreaterThan(f[(m * 201)..<((m + 1) * 201)].max() ?? 0, 0, "filter \(m)") }
        XCTAssertEqual(LogMelSpectrogram(nMels: 128).nMels, 128)
    }

    func testVeryShortAndSilentInputDoNotCrash() {
        let mel = LogMelSpectrogram()
        for n in [1, 2, 150, 401] {
            let x = [Float](repeating: 0.1, count: n)
            let (out, frames) = x.withUnsafeBufferPointer { mel.compute($0) }
            XCTAssertEqual(out.count, 80 * frames)
            XCTAssertTrue(out.allSatisfy { $0.isFinite })
        }
    }
}
