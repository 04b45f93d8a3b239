import AudioIO
import Engine
import Foundation
import XCTest

/// The whole chain with the real default models, headless: a spoken question in a file becomes a
/// transcript, a reply from the language model, and speech in the output file that Whisper hears
/// as that reply.
final class ConverseCommandTests: XCTestCase {
    func testSpokenQuestionGetsASpokenReplyThatTranscribesBackToTheReplyText() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("confab-converse-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        // The question, spoken by espeak-ng through Confab's own voice would be circular: use Piper only
        // for the answer and a Whisper fixture for the question.
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("SpeechRecognitionTests/Fixtures/what_time.wav")
        let question = try AudioFile.readMono(fixture.path, sampleRate: 16000)
        let input = dir.appendingPathComponent("question.wav").path
        try AudioFile.write(input, samples: [Float](repeating: 0, count: 8000) + question, sampleRate: 16000)
        let output = dir.appendingPathComponent("reply.wav").path

        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("confab")
        let p = Process()
        p.executableURL = binary
        p.arguments = ["converse", "--input", input, "--output", output, "--json"]
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, stderr)

        // Words heard while the question was still coming are lines of their own ({"partial": …}), before the turn.
        let lines = String(decoding: stdout, as: UTF8.self).split(separator: "\n")
        let partials = lines.filter { $0.hasPrefix("{\"partial\":") }
        let turns = lines.filter { !$0.hasPrefix("{\"partial\":") }
        XCTAssertEqual(turns.count, 1, "one question, one turn: \(lines)")
        XCTAssertEqual(lines.last, turns.first, "the partial transcripts come before the turn: \(lines)")
        for p in partials {
            let words = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(p.utf8)) as? [String: String])["partial"]
            XCTAssertFalse(try XCTUnwrap(words).isEmpty, String(p))
        }
        let decoder = JSONDecoder(); decoder.dateDecodingStrategy = .iso8601
        let turn = try decoder.decode(TurnRecord.self, from: Data(try XCTUnwrap(turns.first).utf8))
        XCTAssertTrue(turn.transcript.lowercased().contains("what time"), turn.transcript)
        XCTAssertFalse(turn.reply.isEmpty)
        XCTAssertFalse(turn.interrupted)
        XCTAssertNotNil(turn.timings.firstAudio)

        // The reply audio holds the reply: Whisper hears most of its words.
        let reply = try AudioFile.readMono(output, sampleRate: 16000)
        XCTAssertGreaterThan(reply.count, 8000, "reply audio too short")
        try assertWhisperHears(turn.reply, in: reply)
    }

    /// Whisper (the default model) hears at least half the words of `text` in `audio` (16 kHz).
    func assertWhisperHears(_ text: String, in audio: [Float], file: StaticString = #filePath, line: UInt = #line) throws {
        let heard = try WhisperTranscriber(directory: try ModelStore().resolve(nil, kind: .whisper)).transcribe(audio).text
        func words(_ s: String) -> Set<String> {
            Set(s.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init))
        }
        let said = words(text), back = words(heard)
        let overlap = Double(said.intersection(back).count) / Double(max(said.count, 1))
        XCTAssertGreaterThanOrEqual(overlap, 0.5, "reply \"\(text)\" came back as \"\(heard)\"", file: file, line: line)
    }

    /// The live conversation through real ALSA devices (the `file` plugin over `null`, paced to real time by
    /// Confab's audio threads): a question in the capture file, a spoken reply in the playback file that
    /// transcribes back to the reply text, and a session log that is complete when the process is killed
    /// (SIGKILL, no chance to clean up) after the turn.
    func testLiveConversationThroughALSADevicesAndASessionLogThatSurvivesAKill() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("confab-live-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("SpeechRecognitionTests/Fixtures/what_time.wav")
        let question = try AudioFile.readMono(fixture.path, sampleRate: 16000)
        // Microphone: 1.5 s of room, the question, then silence (the file plugin gives silence past the end).
        var pcm = Data()
        for x in [Float](repeating: 0, count: 24000) + question {
            var v = Int16(max(-1, min(1, x)) * 32767).littleEndian
            withUnsafeBytes(of: &v) { pcm.append(contentsOf: $0) }
        }
        let mic = dir.appendingPathComponent("mic.raw"), speaker = dir.appendingPathComponent("speaker.raw")
        try pcm.write(to: mic)
        // Raw (not WAV) playback: a killed process never finishes a WAV header, raw samples need none.
        try """
        pcm.mic_raw { type file; slave.pcm "null"; file "/dev/null"; infile "\(mic.path)"; format "raw" }
        pcm.mic { type plug; slave { pcm "mic_raw"; format S16_LE; rate 16000; channels 1 } }
        pcm.speaker_raw { type file; slave.pcm "null"; file "\(speaker.path)"; format "raw" }
        pcm.speaker { type plug; slave { pcm "speaker_raw"; format S16_LE; rate 16000; channels 1 } }
        """.write(to: dir.appendingPathComponent(".asoundrc"), atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("session.jsonl").path

        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("confab")
        let p = Process()
        p.executableURL = binary
        p.arguments = ["converse", "--capture-device", "mic", "--playback-device", "speaker", "--session-log", log]
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = dir.path
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        let errPath = dir.appendingPathComponent("stderr").path
        FileManager.default.createFile(atPath: errPath, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: errPath)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }

        // The turn is logged once its reply has played out; then the process is killed between turns.
        let deadline = Date().addingTimeInterval(120)
        var turns: [TurnRecord] = []
        while Date() < deadline && p.isRunning {
            if let t = try? SessionLog.read(log), !t.isEmpty { turns = t; break }
            usleep(100_000)
        }
        // The log is written once the reply's last sample is handed to ALSA; the device's own buffer (2048 frames,
        // ~0.1 s) still has to reach the playback file before the kill, or the file misses the reply's end.
        usleep(400_000)
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        XCTAssertTrue(p.isRunning, "confab converse exited: \(stderr)")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()

        let logged = try SessionLog.read(log)
        XCTAssertEqual(logged.count, 1, "session log after the kill: \(logged); stderr: \(stderr)")
        guard let turn = logged.first else { return }
        XCTAssertEqual(turns.first, turn)
        XCTAssertTrue(turn.transcript.lowercased().contains("what time"), turn.transcript)
        XCTAssertEqual(turn.input, .voice)
        XCTAssertFalse(turn.reply.isEmpty)
        XCTAssertFalse(turn.interrupted)
        let t = turn.timings
        XCTAssertNotNil(t.firstAudio)
        print("live conversation through ALSA file devices: end of speech → transcript \(t.transcript ?? -1) s, "
              + "first token \(t.firstToken ?? -1) s, first audio \(t.firstAudio ?? -1) s")

        // What was handed to the playback device holds the reply: Whisper hears most of its words.
        let raw = try Data(contentsOf: speaker)
        let played = raw.withUnsafeBytes { b in b.bindMemory(to: Int16.self).map { Float(Int16(littleEndian: $0)) / 32768 } }
        XCTAssertGreaterThan(played.count, 16000, "reply audio too short")
        try assertWhisperHears(turn.reply, in: played)
    }
}
