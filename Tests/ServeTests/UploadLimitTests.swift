@testable import App
import AudioIO
import CSndFile
import Foundation
@testable import Serve
import XCTest

/// An uploaded file that decodes to more audio than the server's limit is a 413 in OpenAI's error shape, naming the
/// file; one within it decodes; one that is not audio stays a 400.
final class UploadLimitTests: XCTestCase {
    /// A FLAC's STREAMINFO with another total sample count (0: the header does not say).
    static func flac(_ bytes: [UInt8], totalSamples t: UInt64) -> [UInt8] {
        precondition(Array(bytes.prefix(4)) == Array("fLaC".utf8) && bytes[4] & 0x7F == 0)
        var b = bytes
        b[21] = (b[21] & 0xF0) | UInt8((t >> 32) & 0x0F)
        for i in 0..<4 { b[22 + i] = UInt8((t >> (24 - 8 * UInt64(i))) & 0xFF) }
        return b
    }

    static func writeVorbis(_ path: String, samples: [Float], sampleRate: Int) throws {
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate); info.channels = 1; info.format = Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS)
        guard let sf = sf_open(path, Int32(SFM_WRITE), &info) else { throw AudioFileError(path: path, problem: String(cString: sf_strerror(nil))) }
        _ = samples.withUnsafeBufferPointer { sf_writef_float(sf, $0.baseAddress, sf_count_t(samples.count)) }
        sf_close(sf)
    }

    func bytes(seconds: Double, rate: Int = 16000) throws -> [UInt8] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("confab-upload-\(UUID().uuidString).flac").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let samples = (0..<Int(seconds * Double(rate))).map { Float(sin(Double($0) * 0.05)) * 0.3 }
        try AudioFile.write(path, samples: samples, sampleRate: rate, format: .flac16)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func assert413(_ bytes: [UInt8], name: String, limit: AudioFile.DecodeLimit, _ expect: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ConfabServer.decodeAudio(bytes, name: name, limit: limit), file: file, line: line) { e in
            guard let e = e as? APIError else { return XCTFail("\(e)", file: file, line: line) }
            XCTAssertEqual(e.status, .contentTooLarge, file: file, line: line)
            XCTAssertEqual(e.code, "audio_too_long", file: file, line: line)
            XCTAssertEqual(e.param, "file", file: file, line: line)
            XCTAssertTrue(e.message.hasPrefix("The file '\(name)' is too long for this server: ") && e.message.contains(expect), e.message, file: file, line: line)
            let body = try? JSONSerialization.jsonObject(with: e.body) as? [String: [String: Any]]
            XCTAssertEqual(body?["error"]?["message"] as? String, e.message, file: file, line: line)
            XCTAssertEqual(body?["error"]?["type"] as? String, "invalid_request_error", file: file, line: line)
        }
    }

    func testLongerThanTheLimitIs413() throws {
        let long = try bytes(seconds: 3)
        assert413(long, name: "talk.flac", limit: .init(seconds: 2), "is 3 s long by its header, more than the 2 s that is read")
        assert413(Self.flac(long, totalSamples: 0), name: "talk.flac", limit: .init(seconds: 2), "decodes to more than the 2 s of audio")
        XCTAssertEqual(try ConfabServer.decodeAudio(long, name: "talk.flac", limit: .init(seconds: 3)).count, 48000)
        XCTAssertEqual(try ConfabServer.decodeAudio(try bytes(seconds: 1, rate: 44100), name: "cd.flac", limit: .init(seconds: 2)).count, 16000)
        // The server's default: 30 minutes.
        XCTAssertEqual(ServeConfiguration().maxAudioSeconds, 1800)
    }

    /// `--max-audio-minutes`: 30 by default, 1 to 240.
    func testMaxAudioMinutesOption() throws {
        XCTAssertEqual(try ServeCommand.parse([]).maxAudioMinutes, 30)
        XCTAssertEqual(try ServeCommand.parse(["--max-audio-minutes", "240"]).maxAudioMinutes, 240)
        for bad in ["0", "241"] {
            XCTAssertThrowsError(try ServeCommand.parse(["--max-audio-minutes", bad])) {
                XCTAssertTrue(ServeCommand.message(for: $0).contains("--max-audio-minutes must be 1...240"), ServeCommand.message(for: $0))
            }
        }
    }

    func testNotAudioIsStill400() {
        XCTAssertThrowsError(try ConfabServer.decodeAudio(Array("hello".utf8), name: "a.txt", limit: .init(seconds: 60))) { e in
            XCTAssertEqual((e as? APIError)?.status, .badRequest)
            XCTAssertTrue((e as? APIError)?.message.hasPrefix("The file 'a.txt' is not audio this server can read: ") == true, "\(e)")
        }
    }
}
