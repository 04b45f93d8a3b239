import Foundation
import XCTest
@testable import AudioIO

/// Audio in memory (an upload) goes through the same checks as a file; headers that would make Confab allocate far
/// more than the file holds are one-line errors. The fuzz target `audio` replays Fuzz/corpus/audio.
final class FuzzRegressionTests: XCTestCase {
    /// A 16-bit PCM WAV with these header fields and `frames` frames of data.
    static func wav(rate: UInt32, channels: UInt16 = 1, frames: Int) -> [UInt8] {
        var h: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { h += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { h += $0 } }
        let data = frames * Int(channels) * 2
        h += Array("RIFF".utf8); u32(UInt32(36 + data)); h += Array("WAVE".utf8)
        h += Array("fmt ".utf8); u32(16); u16(1); u16(channels); u32(rate); u32(rate &* UInt32(channels) &* 2); u16(channels * 2); u16(16)
        h += Array("data".utf8); u32(UInt32(data))
        return h + (0..<data).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    }

    func testBytesReadTheSameAsTheFile() throws {
        let dir = try makeTempDir(self)
        let bytes = Self.wav(rate: 22050, channels: 2, frames: 3000)
        let url = dir.appendingPathComponent("s.wav")
        try Data(bytes).write(to: url)
        let (a, ia) = try AudioFile.readInterleaved(url.path)
        let (b, ib) = try AudioFile.readInterleaved(bytes: bytes, name: "upload.wav")
        XCTAssertEqual(ia, ib); XCTAssertEqual(a, b)
        XCTAssertEqual(try AudioFile.readMono(url.path, sampleRate: 16000), try AudioFile.readMono(bytes: bytes, name: "u", sampleRate: 16000))
    }

    /// 100,000 samples at a claimed 1 Hz would be resampled to 1.6 billion at 16 kHz (6.4 GB): refused.
    func testImplausibleSampleRateIsAnError() {
        for rate: UInt32 in [1, 999, 768_001, 0x7FFF_FFFF] {
            XCTAssertThrowsError(try AudioFile.readMono(bytes: Self.wav(rate: rate, frames: 100_000), name: "slow.wav", sampleRate: 16000), "\(rate)") { e in
                let s = "\(e)"
                XCTAssertTrue(s.hasPrefix("slow.wav: ") && s.contains("sample rate"), s)
                XCTAssertFalse(s.contains("\n"))
            }
        }
        XCTAssertNoThrow(try AudioFile.readMono(bytes: Self.wav(rate: 8000, frames: 10), name: "ok.wav", sampleRate: 16000))
    }

    func testDecodedSizeIsBounded() {
        XCTAssertThrowsError(try AudioFile.readInterleaved(bytes: Self.wav(rate: 16000, frames: 70_000), name: "long.wav", maxSamples: 65_536)) { e in
            XCTAssertTrue("\(e)".hasPrefix("long.wav: ") && "\(e)".contains("more than 65536 samples"), "\(e)")
        }
    }

    func testNotAudioAndTruncatedBytesAreOneLineErrors() {
        let cases: [([UInt8], String)] = [([], "is empty"), (Array("hello, world".utf8), "is not an audio file"),
                                          (Array(Self.wav(rate: 16000, frames: 100).prefix(30)), "damaged or truncated")]
        for (bytes, expect) in cases {
            XCTAssertThrowsError(try AudioFile.readInterleaved(bytes: bytes, name: "x.wav"), expect) { e in
                XCTAssertTrue("\(e)".hasPrefix("x.wav: ") && "\(e)".contains(expect), "\(e)")
                XCTAssertFalse("\(e)".contains("\n"))
            }
        }
    }
}
