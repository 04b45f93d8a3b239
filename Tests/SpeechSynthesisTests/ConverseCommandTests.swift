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

        let lines = String(decoding: stdout, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one question, one turn: \(lines)")
        let decoder = JSONDecoder(); decoder.dateDecodingStrategy = .iso8601
        let turn = try decoder.decode(TurnRecord.self, from: Data(try XCTUnwrap(lines.first).utf8))
        XCTAssertTrue(turn.transcript.lowercased().contains("what time"), turn.transcript)
        XCTAssertFalse(turn.reply.isEmpty)
        XCTAssertFalse(turn.interrupted)
        XCTAssertNotNil(turn.timings.firstAudio)

        // The reply audio holds the reply: Whisper hears most of its words.
        let reply = try AudioFile.readMono(output, sampleRate: 16000)
        XCTAssertGreaterThan(reply.count, 8000, "reply audio too short")
        let heard = try WhisperTranscriber(directory: try ModelStore().resolve(nil, kind: .whisper)).transcribe(reply).text
        func words(_ s: String) -> Set<String> {
            Set(s.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init))
        }
        let said = words(turn.reply), back = words(heard)
        let overlap = Double(said.intersection(back).count) / Double(max(said.count, 1))
        XCTAssertGreaterThanOrEqual(overlap, 0.5, "reply \"\(turn.reply)\" came back as \"\(heard)\"")
    }
}
