import AudioIO
import ConfabTestSupport
import Engine
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

    /// A file-plugin capture device `mic` over `null` (ALSA's real code path, paced to real time) that reads `samples`;
    /// returns the seconds to dictate for.
    func captureDevice(_ samples: [Float]) throws -> String {
        let raw = dir.appendingPathComponent("mic.raw")
        var pcm = Data(capacity: samples.count * 2)
        for s in samples { var v = Int16(max(-1, min(1, s)) * 32767).littleEndian; withUnsafeBytes(of: &v) { pcm.append(contentsOf: $0) } }
        try pcm.write(to: raw)
        let asoundrc = """
        pcm.mic_raw { type file; slave.pcm "null"; file "/dev/null"; infile "\(raw.path)"; format "raw" }
        pcm.mic { type plug; slave { pcm "mic_raw"; format S16_LE; rate 16000; channels 1 } }
        """
        try asoundrc.write(to: dir.appendingPathComponent(".asoundrc"), atomically: true, encoding: .utf8)
        return String(Double(samples.count) / 16000 + 0.5)
    }

    func testDictatingFromACaptureDeviceToStdout() throws {
        let seconds = try captureDevice(try twoUtterances())
        let r = try run(["dictate", "--capture-device", "mic", "--seconds", seconds], home: dir)
        XCTAssertEqual(r.status, 0, r.err)
        let text = normalized(r.out)
        XCTAssertTrue(text.contains("what time is it"), r.out)
        XCTAssertTrue(text.contains("kitchen"), r.out)
        // Piped, the output is the utterances' text and nothing else: the words so far go nowhere.
        XCTAssertEqual(r.out.split(separator: "\n").count, 2, r.out)
        XCTAssertFalse(r.out.contains("{") || r.out.contains("…"), r.out)
        XCTAssertFalse(r.err.contains("…"), r.err)
    }

    /// --json: while each utterance is spoken (in real time, through ALSA), its words so far as {"partial": …} lines,
    /// then its text as a {"text": …} line; no partial after the last text.
    func testJSONGivesTheWordsSoFarBeforeEachUtterancesText() throws {
        let long = try PiperSynthesizer(voice: "en_US-joe-medium")
        long.options.seed = 3
        var sentence: [Float] = []
        try long.synthesize(try long.voice.phonemize("Please remember to buy milk, eggs, bread and coffee on the way home tonight.")) {
            sentence += $0; return true
        }
        sentence = Resampler.resample(sentence, from: long.sampleRate, to: 16000)
        XCTAssertGreaterThan(sentence.count, 3 * 16000)
        let b = try AudioFile.readMono(try Fixtures.url("lights_kitchen.wav").path, sampleRate: 16000)
        let pause = [Float](repeating: 0, count: 24_000)
        let seconds = try captureDevice(pause + sentence + pause + b + pause)
        let r = try run(["dictate", "--capture-device", "mic", "--seconds", seconds, "--json"], home: dir)
        XCTAssertEqual(r.status, 0, r.err)

        var lines: [(key: String, words: String)] = []
        for l in r.out.split(separator: "\n") {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: String], String(l))
            XCTAssertEqual(object.count, 1, String(l))
            let (key, words) = try XCTUnwrap(object.first)
            XCTAssertTrue(key == "partial" || key == "text", String(l))
            XCTAssertFalse(words.isEmpty, String(l))
            lines.append((key, words))
        }
        let texts = lines.filter { $0.key == "text" }.map { normalized($0.words) }
        XCTAssertEqual(texts.count, 2, r.out)
        XCTAssertTrue(texts.first?.contains("please remember to buy milk") ?? false, r.out)
        XCTAssertTrue(texts.last?.contains("kitchen") ?? false, r.out)
        // The long sentence's words so far come first, before its text, and share its words.
        let firstText = try XCTUnwrap(lines.firstIndex { $0.key == "text" })
        XCTAssertGreaterThanOrEqual(firstText, 1, "no words so far before the first text: \(r.out)")
        let said = Set((texts.first ?? "").split(separator: " "))
        for p in lines[..<firstText] {
            XCTAssertFalse(said.isDisjoint(with: normalized(p.words).split(separator: " ")), "\(p.words) vs \(texts.first ?? "")")
        }
        XCTAssertEqual(lines.last?.key, "text", "the final text replaces the words so far: \(r.out)")
    }

    func testMissingInputFileIsOneLineError() throws {
        let r = try run(["dictate", "--input", dir.appendingPathComponent("nope.wav").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.hasPrefix("confab: ") && r.err.contains("nope.wav"), r.err)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
    }
}
