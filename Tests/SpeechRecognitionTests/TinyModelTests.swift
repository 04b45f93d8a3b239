import XCTest
import AudioIO
@testable import Engine

/// Loading and decoding shapes on a tiny random-weight Whisper written by the test; bad model inputs.
final class TinyModelTests: XCTestCase {
    func testLoadsShapesDequantizesAndAliases() throws {
        let dir = try Fixtures.tempDir("tiny")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TinyWhisper.write(to: dir)
        let file = try CTranslate2ModelFile(path: dir.appendingPathComponent("model.bin").path)
        XCTAssertEqual(file.version, 6)
        XCTAssertEqual(file.specName, "WhisperSpec")
        XCTAssertTrue(file.has("decoder/projection/weight"))
        XCTAssertEqual(file.scalar("encoder/num_heads"), 2)
        // int8 dequantization: w = q / scale[row]
        let name = "encoder/layer_0/self_attention/linear_1/weight"
        let v = try XCTUnwrap(file.variables[name]), s = try XCTUnwrap(file.variables[name + "_scale"])
        XCTAssertEqual(v.dtype, .i8); XCTAssertEqual(s.dims, [TinyWhisper.D])
        let w = try file.floats(name), scales = try file.floats(name + "_scale")
        let raw = try Data(contentsOf: dir.appendingPathComponent("model.bin"))
        for i in [0, 9, 63] {
            let q = Float(Int8(bitPattern: raw[v.offset + i]))
            XCTAssertEqual(w[i], q / scales[i / TinyWhisper.D], accuracy: 1e-7)
        }
        let model = try WhisperModel(file: file, maxBeams: 3)
        XCTAssertEqual(model.config, WhisperConfig(nMels: 80, nAudioCtx: 1500, nAudioState: 8, nAudioHead: 2, nAudioLayer: 1, nAudioFF: 32,
                                                   nTextCtx: 448, nTextState: 8, nTextHead: 2, nTextLayer: 1, nTextFF: 32, nVocab: 51864))
    }

    func testEncodeAndDecodeShapes() throws {
        let dir = try Fixtures.tempDir("tiny")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TinyWhisper.write(to: dir)
        var o = WhisperOptions()
        o.decoding.beamSize = 3
        let asr = try WhisperTranscriber(directory: dir, options: o)
        var rng = LCG(state: 7)
        let audio = (0..<24000).map { _ in rng.next() * 0.2 }
        let (mel, frames) = audio.withUnsafeBufferPointer { asr.mel.compute($0) }
        XCTAssertEqual(frames, 151)
        mel.withUnsafeBufferPointer { asr.model.encode(mel: $0.baseAddress!, stride: frames, offset: 0, available: frames - 1, frames: 3000) }
        XCTAssertEqual(asr.model.encodedFrames, 1500)
        XCTAssertTrue((0..<(1500 * 8)).allSatisfy { asr.model.encOut[$0].isFinite })
        // short window: only the frames holding audio (+ margin), positions sliced
        mel.withUnsafeBufferPointer { asr.model.encode(mel: $0.baseAddress!, stride: frames, offset: 0, available: frames - 1, frames: 250) }
        XCTAssertEqual(asr.model.encodedFrames, 125)
        // prompt prefill gives logits for the requested rows; a beam step gives one row per beam
        let v = asr.vocab
        asr.model.decodePrefill([v.sotPrev, 5, 6, v.sot], start: 0, logitRows: [3])
        XCTAssertTrue((0..<v.count).allSatisfy { asr.model.logits[$0].isFinite })
        asr.model.broadcastCache(count: 3, length: 4)
        asr.model.decodeStep([10, 11, 12], position: 4)
        XCTAssertTrue((0..<(3 * v.count)).allSatisfy { asr.model.logits[$0].isFinite })
        // full pipeline (greedy and beam) stays within the vocabulary and the text context
        for beam in [1, 3] {
            asr.options.decoding.beamSize = beam
            for margin in [nil, 50] as [Int?] {
                asr.options.encoderMarginFrames = margin
                let r = try asr.run(audio)
                XCTAssertTrue(r.tokens.allSatisfy { $0 >= 0 && $0 < v.count && $0 != v.eot }, "beam \(beam)")
                XCTAssertEqual(r.timings.audio, 1.5, accuracy: 1e-9)
                for s in r.transcript.segments { XCTAssertLessThanOrEqual(s.start, s.end) }
            }
        }
        XCTAssertEqual(try asr.transcribe([]).text, "")
    }

    /// The output head read in place as float16 (how CTranslate2 stores Whisper) and the same values stored as
    /// float32 (converted at load) give bit-identical logits for a beam step, and the same transcript.
    func testHalfAndFloatOutputHeadsAgree() throws {
        var logits: [[Float]] = [], texts: [String] = []
        for floatEmbeddings in [false, true] {
            let dir = try Fixtures.tempDir("head")
            defer { try? FileManager.default.removeItem(at: dir) }
            try TinyWhisper.write(to: dir, floatEmbeddings: floatEmbeddings)
            let file = try CTranslate2ModelFile(path: dir.appendingPathComponent("model.bin").path)
            XCTAssertEqual(file.variables["decoder/embeddings/weight"]?.dtype, floatEmbeddings ? .f32 : .f16)
            var o = WhisperOptions()
            o.decoding.beamSize = 3
            let asr = try WhisperTranscriber(directory: dir, options: o)
            XCTAssertEqual(asr.model.embedHalf == nil, floatEmbeddings)
            var rng = LCG(state: 3)
            let audio = (0..<16000).map { _ in rng.next() * 0.2 }
            let (mel, frames) = audio.withUnsafeBufferPointer { asr.mel.compute($0) }
            mel.withUnsafeBufferPointer { asr.model.encode(mel: $0.baseAddress!, stride: frames, offset: 0, available: frames - 1, frames: 3000) }
            let v = asr.vocab
            asr.model.decodePrefill([v.sot, 5], start: 0, logitRows: [1])
            asr.model.broadcastCache(count: 3, length: 2)
            asr.model.decodeStep([10, 11, 12], position: 2)
            logits.append(Array(UnsafeBufferPointer(start: asr.model.logits.pointer, count: 3 * v.count)))
            texts.append(try asr.transcribe(audio).text)
        }
        XCTAssertEqual(logits[0], logits[1])
        XCTAssertEqual(texts[0], texts[1])
    }

    /// A cancelled task stops recognition early with CancellationError (a speculative recognition the user
    /// talked over); the same transcriber then recognizes normally.
    func testCancelledTaskStopsRecognition() async throws {
        let dir = try Fixtures.tempDir("cancel")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TinyWhisper.write(to: dir)
        let asr = try WhisperTranscriber(directory: dir)
        var rng = LCG(state: 5)
        let audio = (0..<16000).map { _ in rng.next() * 0.2 }
        let task = Task.detached { () throws -> String in
            withUnsafeCurrentTask { $0?.cancel() }
            return try asr.transcribe(audio).text
        }
        do {
            _ = try await task.value
            XCTFail("a cancelled recognition finished")
        } catch {
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        let r = try await Task.detached { try asr.run(audio) }.value
        XCTAssertGreaterThan(r.timings.decode, 0)
    }

    func testTruncatedModelFileIsAOneLineError() throws {
        let dir = try Fixtures.tempDir("trunc")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TinyWhisper.write(to: dir)
        let path = dir.appendingPathComponent("model.bin").path
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        for size in [3, 10, 60, 5000, full.count / 2, full.count - 1] {
            try full.prefix(size).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try WhisperTranscriber(directory: dir), "size \(size)") { e in
                let s = "\(e)"
                XCTAssertTrue(e is ModelFileError, s)
                XCTAssertTrue(s.hasPrefix(path + ": "), s)
                XCTAssertTrue(s.contains("truncated"), s)
                XCTAssertFalse(s.contains("\n"))
            }
        }
    }

    func testCorruptedModelFileIsAOneLineError() throws {
        let dir = try Fixtures.tempDir("corrupt")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TinyWhisper.write(to: dir)
        let url = dir.appendingPathComponent("model.bin")
        let good = try Data(contentsOf: url)
        var cases: [(Data, String)] = []
        var bad = good; bad[0] = 99; cases.append((bad, "binary version"))
        // the first variable's dtype byte (name length 2 + name + NUL, rank, dims)
        bad = good
        let headerEnd = 4 + 2 + 12 + 4 + 4
        let nameLen = Int(good[headerEnd]) | Int(good[headerEnd + 1]) << 8
        let rank = Int(good[headerEnd + 2 + nameLen])
        bad[headerEnd + 2 + nameLen + 1 + 4 * rank] = 77
        cases.append((bad, "dtype"))
        bad = good; bad.append(contentsOf: [1, 2, 3]); cases.append((bad, "trailing"))
        bad = good; bad[headerEnd + 2 + nameLen + 1 + 4 * rank + 1] ^= 0x40; cases.append((bad, "do not match shape"))
        for (data, expect) in cases {
            try data.write(to: url)
            XCTAssertThrowsError(try WhisperTranscriber(directory: dir)) { e in
                let s = "\(e)"
                XCTAssertTrue(s.hasPrefix(url.path + ": ") && s.contains(expect), s)
                XCTAssertFalse(s.contains("\n"))
            }
        }
    }

    func testDirectoryMissingFilesNamesTheFile() throws {
        for missing in ["model.bin", "config.json", "vocabulary.txt"] {
            let dir = try Fixtures.tempDir("missing")
            defer { try? FileManager.default.removeItem(at: dir) }
            try TinyWhisper.write(to: dir)
            try FileManager.default.removeItem(at: dir.appendingPathComponent(missing))
            XCTAssertThrowsError(try WhisperTranscriber(directory: dir)) { e in
                let s = "\(e)"
                XCTAssertTrue(s.contains(missing) && s.contains("missing"), s)
                XCTAssertFalse(s.contains("\n"))
            }
        }
        XCTAssertThrowsError(try WhisperTranscriber(directory: URL(fileURLWithPath: "/nonexistent/whisper"))) { e in
            XCTAssertTrue("\(e)".hasPrefix("/nonexistent/whisper: "))
        }
    }

    func testBadAudioInputsAreOneLineErrors() throws {
        let dir = try Fixtures.tempDir("audio")
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("notes.wav")
        try "this is not audio".write(to: text, atomically: true, encoding: .utf8)
        let empty = dir.appendingPathComponent("empty.wav")
        try AudioFile.write(empty.path, samples: [], sampleRate: 16000)
        for (path, expect) in [(text.path, "is not an audio file"), (empty.path, "zero length"), (dir.appendingPathComponent("none.wav").path, "no such file")] {
            XCTAssertThrowsError(try WhisperTranscriber.readAudio(path)) { e in
                let s = "\(e)"
                XCTAssertTrue(s.hasPrefix(path + ": ") && s.contains(expect), s)
                XCTAssertFalse(s.contains("\n"))
            }
        }
    }
}
