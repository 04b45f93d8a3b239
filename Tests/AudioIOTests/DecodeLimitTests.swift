import CSndFile
import Foundation
import XCTest
@testable import AudioIO

/// An upload is decoded in bounded chunks within a `DecodeLimit`: a compressed file (FLAC, Ogg Vorbis, made here with
/// libsndfile) that holds more audio than the limit, or whose header claims more, is refused with one line naming it,
/// before or while it is decoded, whatever its header says; one within the limit reads exactly like the file on disk.
final class DecodeLimitTests: XCTestCase {
    /// A tone with some noise, interleaved, `seconds` long.
    static func signal(rate: Int, channels: Int, seconds: Double) -> [Float] {
        let frames = Int(seconds * Double(rate))
        return (0..<(frames * channels)).map { i in
            let f = i / channels, c = i % channels
            return 0.4 * Float(sin(Double(f) * 2 * .pi * 440 / Double(rate) + Double(c))) + Float((i * 7919) % 97) / 2000
        }
    }

    /// Writes with libsndfile in `format` (e.g. FLAC 16-bit, Ogg Vorbis) and returns the path and the bytes.
    func write(_ samples: [Float], rate: Int, channels: Int, format: Int32, name: String) throws -> (path: String, bytes: [UInt8]) {
        let path = try makeTempDir(self).appendingPathComponent(name).path
        var info = SF_INFO()
        info.samplerate = Int32(rate); info.channels = Int32(channels); info.format = format
        let sf = try XCTUnwrap(sf_open(path, Int32(SFM_WRITE), &info), String(cString: sf_strerror(nil)))
        let written = samples.withUnsafeBufferPointer { sf_writef_float(sf, $0.baseAddress, sf_count_t(samples.count / channels)) }
        XCTAssertEqual(Int(written), samples.count / channels)
        XCTAssertEqual(sf_close(sf), 0)
        return (path, [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    static let flac = Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16)
    static let vorbis = Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS)

    /// A FLAC's STREAMINFO with another total sample count (36 bits; 0 means "not known").
    static func claiming(_ flac: [UInt8], totalSamples t: UInt64) -> [UInt8] {
        precondition(Array(flac.prefix(4)) == Array("fLaC".utf8) && flac[4] & 0x7F == 0)
        var b = flac
        b[21] = (b[21] & 0xF0) | UInt8((t >> 32) & 0x0F)
        for i in 0..<4 { b[22 + i] = UInt8((t >> (24 - 8 * UInt64(i))) & 0xFF) }
        return b
    }

    /// libsndfile's frame count for the bytes (what the header says).
    static func framesClaimed(_ bytes: [UInt8], name: String) throws -> Int64 {
        try AudioFile.withMemoryFile(bytes, name: name) { _, info in info.frames }
    }

    func assertRefused(_ bytes: [UInt8], name: String, limit: AudioFile.DecodeLimit, _ expect: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try AudioFile.readMono(bytes: bytes, name: name, sampleRate: 16000, limit: limit), file: file, line: line) { e in
            guard let e = e as? AudioFileError else { return XCTFail("\(e)", file: file, line: line) }
            XCTAssertTrue(e.exceedsLimit, "\(e)", file: file, line: line)
            XCTAssertTrue("\(e)".hasPrefix("\(name): ") && e.problem.contains(expect), "\(e)", file: file, line: line)
            XCTAssertFalse("\(e)".contains("\n"), file: file, line: line)
        }
    }

    func testUploadsWithinTheLimitReadLikeTheFile() throws {
        let limit = AudioFile.DecodeLimit(seconds: 10)
        for (rate, channels, format, name) in [(22050, 2, Self.flac, "stereo.flac"), (48000, 1, Self.vorbis, "mono.ogg"),
                                               (16000, 1, Self.flac, "mono16k.flac"), (8000, 6, Self.flac, "six.flac")] {
            let (path, bytes) = try write(Self.signal(rate: rate, channels: channels, seconds: 2.5), rate: rate, channels: channels, format: format, name: name)
            let fromFile = try AudioFile.readMono(path, sampleRate: 16000)
            let upload = try AudioFile.readMono(bytes: bytes, name: name, sampleRate: 16000, limit: limit)
            XCTAssertEqual(upload.count, 40000, name)
            XCTAssertEqual(upload, fromFile, "\(name): decoding in chunks gives the samples of the whole file")
        }
    }

    func testLongFLACIsRefusedByItsHeader() throws {
        let (_, bytes) = try write(Self.signal(rate: 16000, channels: 1, seconds: 5), rate: 16000, channels: 1, format: Self.flac, name: "long.flac")
        XCTAssertEqual(try Self.framesClaimed(bytes, name: "long.flac"), 80000)
        assertRefused(bytes, name: "long.flac", limit: .init(seconds: 2), "is 5 s long by its header, more than the 2 s that is read")
        XCTAssertEqual(try AudioFile.readMono(bytes: bytes, name: "long.flac", sampleRate: 16000, limit: .init(seconds: 5)).count, 80000)
        // A header claiming 2^35 frames (a day and more) for 5 s of audio: refused before anything is decoded.
        assertRefused(Self.claiming(bytes, totalSamples: 1 << 35), name: "liar.flac", limit: .init(seconds: 1800),
                      "is 596 h 31 min long by its header, more than the 30 min that is read")
    }

    /// A FLAC whose header does not give its length (total samples 0): libsndfile does not know the frame count,
    /// and the decode is stopped as soon as it passes the limit.
    func testFLACWithoutALengthIsStoppedWhileDecoding() throws {
        let (_, honest) = try write(Self.signal(rate: 16000, channels: 1, seconds: 5), rate: 16000, channels: 1, format: Self.flac, name: "x.flac")
        let unknown = Self.claiming(honest, totalSamples: 0)
        XCTAssertEqual(try Self.framesClaimed(unknown, name: "stream.flac"), Int64.max, "libsndfile reports an unknown length")
        assertRefused(unknown, name: "stream.flac", limit: .init(seconds: 2), "decodes to more than the 2 s of audio that is read")
        // Within the limit, all of it decodes.
        XCTAssertEqual(try AudioFile.readMono(bytes: unknown, name: "stream.flac", sampleRate: 16000, limit: .init(seconds: 6)).count, 80000)
    }

    /// Whatever the header claims, what is returned never exceeds the limit.
    func testNoHeaderLieGetsPastTheLimit() throws {
        let (_, honest) = try write(Self.signal(rate: 16000, channels: 1, seconds: 5), rate: 16000, channels: 1, format: Self.flac, name: "x.flac")
        for claim: UInt64 in [0, 1, 8000, 32000, 32001, 79999, 80000, 80001, 1 << 35, (1 << 36) - 1] {
            do {
                let got = try AudioFile.readMono(bytes: Self.claiming(honest, totalSamples: claim), name: "lie.flac", sampleRate: 16000, limit: .init(seconds: 2))
                XCTAssertLessThanOrEqual(got.count, 32000, "claim \(claim)")
            } catch let e as AudioFileError {
                XCTAssertTrue(e.exceedsLimit || e.problem.contains("damaged"), "claim \(claim): \(e)")
            }
        }
    }

    func testLongOggVorbisIsRefused() throws {
        let (_, bytes) = try write(Self.signal(rate: 48000, channels: 2, seconds: 4), rate: 48000, channels: 2, format: Self.vorbis, name: "long.ogg")
        assertRefused(bytes, name: "long.ogg", limit: .init(seconds: 3), "more than the 3 s")
        XCTAssertEqual(try AudioFile.readMono(bytes: bytes, name: "long.ogg", sampleRate: 16000, limit: .init(seconds: 4)).count, 64000)
    }

    /// Many channels are refused (an input error, not a length); many samples in all (channels × rate × time) are a
    /// limit, from the header and again while decoding.
    func testChannelsAndSamplesAreBounded() throws {
        XCTAssertThrowsError(try AudioFile.readMono(bytes: FuzzRegressionTests.wav(rate: 16000, channels: 12, frames: 100), name: "many.wav",
                                                    sampleRate: 16000, limit: .init(seconds: 60))) { e in
            XCTAssertEqual("\(e)", "many.wav: has 12 channels (at most 8 are read): mix it down to mono or stereo")
            XCTAssertEqual((e as? AudioFileError)?.exceedsLimit, false)
        }
        let (_, bytes) = try write(Self.signal(rate: 48000, channels: 2, seconds: 1), rate: 48000, channels: 2, format: Self.flac, name: "s.flac")
        assertRefused(bytes, name: "s.flac", limit: .init(seconds: 60, samples: 50_000), "more than the 50000 samples that are read (2 channels at 48000 Hz)")
        assertRefused(Self.claiming(bytes, totalSamples: 0), name: "s.flac", limit: .init(seconds: 60, samples: 50_000), "more than the 50000 samples")
        // The default: `seconds` of 48 kHz stereo.
        XCTAssertEqual(AudioFile.DecodeLimit(seconds: 1800).samples, 1800 * 96000)
        XCTAssertEqual(AudioFile.DecodeLimit(seconds: 1e300).samples, .max, "saturates instead of overflowing")
    }

    func testLengthsInMessages() {
        XCTAssertEqual(AudioFile.duration(45), "45 s")
        XCTAssertEqual(AudioFile.duration(2.5), "2.5 s")
        XCTAssertEqual(AudioFile.duration(1800), "30 min")
        XCTAssertEqual(AudioFile.duration(61), "1 min 1 s")
        XCTAssertEqual(AudioFile.duration(7500), "2 h 5 min")
        XCTAssertEqual(AudioFile.duration(3600), "1 h")
    }
}
