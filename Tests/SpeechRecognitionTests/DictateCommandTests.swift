import AudioIO
import ConfabTestSupport
import Foundation
import XCTest

/// `confab dictate` run as a user would (the built binary, no terminal): two spoken commands
/// separated by a pause become two lines of text, from a file and from a file-plugin capture device.
final class DictateCommandTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try Fixtures.tempDir("dictate") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func run(_ args: [String], home: URL? = nil) throws -> ConfabProcess.Result {
        try ConfabProcess.run(args, setting: home.map { ["HOME": $0.path] } ?? [:])
    }

    /// Two commands with 1.2 s of silence between them, 16 kHz mono.
    func twoUtterances() throws -> [Float] {
        let a = try AudioFile.readMono(try Fixtures.url("what_time.wav").path, sampleRate: 16000)
        let b = try AudioFile.readMono(try Fixtures.url("lights_kitchen.wav").path, sampleRate: 16000)
        let pause = [Float](repeating: 0, count: 19_200)
        return pause + a + pause + b + pause
    }

    func normalized(_ s: String) -> String {
        s.lowercased().unicodeScalars.filter { CharacterSet.letters.contains($0) || $0 == " " || $0 == "\n" }.map(String.init).joined()
    }

    func testDictatingAFileWritesOneLinePerUtterance() throws {
        let wav = dir.appendingPathComponent("two.wav").path
        try AudioFile.write(wav, samples: try twoUtterances(), sampleRate: 16000)
        let out = dir.appendingPathComponent("dictation.txt").path
        let r = try run(["dictate", "--input", wav, "-o", out])
        XCTAssertEqual(r.status, 0, r.err)
        let lines = normalized(try String(contentsOfFile: out, encoding: .utf8)).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2, "\(lines)")
        XCTAssertTrue(lines.first?.contains("what time is it") ?? false, "\(lines)")
        XCTAssertTrue((lines.last?.contains("turn off") ?? false) && (lines.last?.contains("kitchen") ?? false), "\(lines)")
    }

    func testDictatingFromACaptureDeviceToStdout() throws {
        // A file-plugin capture device over `null` stands in for the microphone (ALSA's real code path).
        let samples = try twoUtterances()
        let raw = dir.appendingPathComponent("mic.raw")
        var pcm = Data(capacity: samples.count * 2)
        for s in samples { var v = Int16(max(-1, min(1, s)) * 32767).littleEndian; withUnsafeBytes(of: &v) { pcm.append(contentsOf: $0) } }
        try pcm.write(to: raw)
        let asoundrc = """
        pcm.mic_raw { type file; slave.pcm "null"; file "/dev/null"; infile "\(raw.path)"; format "raw" }
        pcm.mic { type plug; slave { pcm "mic_raw"; format S16_LE; rate 16000; channels 1 } }
        """
        try asoundrc.write(to: dir.appendingPathComponent(".asoundrc"), atomically: true, encoding: .utf8)
        let seconds = String(Double(samples.count) / 16000 + 0.5)
        let r = try run(["dictate", "--capture-device", "mic", "--seconds", seconds], home: dir)
        XCTAssertEqual(r.status, 0, r.err)
        let text = normalized(r.out)
        XCTAssertTrue(text.contains("what time is it"), r.out)
        XCTAssertTrue(text.contains("kitchen"), r.out)
    }

    func testMissingInputFileIsOneLineError() throws {
        let r = try run(["dictate", "--input", dir.appendingPathComponent("nope.wav").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.hasPrefix("confab: ") && r.err.contains("nope.wav"), r.err)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
    }
}
