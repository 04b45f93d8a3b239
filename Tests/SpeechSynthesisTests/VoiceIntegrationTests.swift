import XCTest
@testable import Engine
@testable import App

/// The real default voice end to end, and bad input.
final class VoiceIntegrationTests: XCTestCase {
    /// Frames × 256 for Piper's ids at noise 0 (onnxruntime, scripts/tts_parity.sh).
    func testFixedSentencesHaveReferenceLength() throws {
        let voice = try TestVoice.shared()
        let synth = try PiperSynthesizer(voice: voice, options: SynthesisOptions(scales: SynthesisScales(noiseScale: 0, lengthScale: 1, noiseW: 0)))
        let expected = [("Hello world.", 18432), ("The quick brown fox jumps over the lazy dog.", 61184), ("How are you doing today?", 25344)]
        for (text, samples) in expected {
            let s = try voice.phonemize(text)
            XCTAssertEqual(s.count, 1)
            let audio = try synth.rawAudio(ids: s[0].ids)
            XCTAssertEqual(audio.count, samples, text)
        }
    }

    func testSpeakStreamsSentenceBySentence() async throws {
        let synth = try PiperSynthesizer(voice: try TestVoice.shared(), options: SynthesisOptions(seed: 5))
        XCTAssertEqual(synth.sampleRate, 22050)
        var chunks = 0, samples = 0
        for try await c in synth.speak("Hi there. **How** are you today? I am fine.") { chunks += 1; samples += c.count }
        XCTAssertGreaterThanOrEqual(chunks, 3)
        XCTAssertGreaterThan(samples, 22050)   // more than a second of speech
        var none = 0
        for try await c in synth.speak("") { none += c.count }
        for try await c in synth.speak("!!! 🎉🎉 ...") { none += c.count }
        XCTAssertEqual(none, 0)
    }

    func testVeryLongTextWithoutPunctuation() throws {
        let voice = try TestVoice.shared()
        let text = Array(repeating: "this is a rather long run of words with no end", count: 12).joined(separator: " ")
        let s = try voice.phonemize(text)
        XCTAssertFalse(s.isEmpty)
        let synth = try PiperSynthesizer(voice: voice, options: SynthesisOptions(seed: 1))
        let audio = try synth.synthesizeSentence(s[0])
        XCTAssertGreaterThan(audio.count, 22050 * 3)
        XCTAssertTrue(audio.allSatisfy { $0.isFinite && abs($0) <= 1 })
    }

    func testBadVoiceFilesGiveOneLineErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("confab-tts-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let real = try TestVoice.shared()
        let goodJSON = try Data(contentsOf: URL(fileURLWithPath: real.modelPath + ".json"))

        // Corrupt .onnx: random bytes, and a truncated copy of the real model.
        let corrupt = dir.appendingPathComponent("corrupt.onnx").path
        FileManager.default.createFile(atPath: corrupt, contents: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }))
        FileManager.default.createFile(atPath: corrupt + ".json", contents: goodJSON)
        let truncated = dir.appendingPathComponent("truncated.onnx").path
        let whole = try Data(contentsOf: URL(fileURLWithPath: real.modelPath))
        FileManager.default.createFile(atPath: truncated, contents: whole.prefix(1_000_000))
        FileManager.default.createFile(atPath: truncated + ".json", contents: goodJSON)
        for path in [corrupt, truncated] {
            XCTAssertThrowsError(try PiperVoice(modelPath: path)) { e in
                let msg = "\(e)"
                XCTAssertTrue(msg.contains(path), msg); XCTAssertFalse(msg.contains("\n"), msg)
            }
        }
        // A config that does not match its model: ids beyond the model's 256 symbols.
        let model = dir.appendingPathComponent("mismatch.onnx").path
        try FileManager.default.createSymbolicLink(atPath: model, withDestinationPath: real.modelPath)
        var cfg = try XCTUnwrap(JSONSerialization.jsonObject(with: goodJSON) as? [String: Any])
        var map = try XCTUnwrap(cfg["phoneme_id_map"] as? [String: Any])
        map["ɐ"] = [400]
        cfg["phoneme_id_map"] = map
        FileManager.default.createFile(atPath: model + ".json", contents: try JSONSerialization.data(withJSONObject: cfg))
        XCTAssertThrowsError(try PiperVoice(modelPath: model)) { e in XCTAssertTrue("\(e)".contains("does not match"), "\(e)") }
        // A missing config, and a missing voice.
        let lonely = dir.appendingPathComponent("lonely.onnx").path
        try FileManager.default.createSymbolicLink(atPath: lonely, withDestinationPath: real.modelPath)
        XCTAssertThrowsError(try PiperVoice(modelPath: lonely)) { e in XCTAssertTrue("\(e)".contains("lonely.onnx.json"), "\(e)") }
        XCTAssertThrowsError(try PiperVoice("no-such-voice"))
    }

    func testSayCommandWritesWavAndRejectsEmptyText() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("confab-say-\(getpid()).wav").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var say = try Say.parse(["Hello there.", "-o", out, "--seed", "1"])
        try say.run()
        let info = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: out)[.size] as? Int)
        XCTAssertGreaterThan(info, 20_000)
        var empty = try Say.parse(["🎉 !!!", "-o", out])
        XCTAssertThrowsError(try empty.run())
    }
}
