import Engine
import Foundation
import XCTest
@testable import App

/// The screen's modes are made by the gate in front of the conversation's microphone: it hands the
/// conversation the microphone only in hands-free or while push-to-talk is open, never when muted, and
/// reports the real level for the meter in every mode but mute.
final class MicrophoneGateTests: XCTestCase {
    final class Tone: CaptureFrameSource, @unchecked Sendable {
        let sampleRate = 16000
        func read(into buffer: UnsafeMutablePointer<Float>, count: Int) -> Int {
            buffer.update(repeating: 0.1, count: count); return count
        }
        func close() {}
    }

    final class Levels: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Float] = []
        func add(_ v: Float) { lock.withLock { values.append(v) } }
        var last: Float? { lock.withLock { values.last } }
        var count: Int { lock.withLock { values.count } }
    }


    func testModesDecideWhatTheConversationHears() {
        let levels = Levels()
        let gate = MicrophoneGate(Tone(), onLevel: { levels.add($0) })
        gate.handsFree = true
        XCTAssertEqual(frame(gate).max(), 0.1)
        XCTAssertEqual(levels.last ?? 0, 20 * log10f(0.1), accuracy: 0.1)

        gate.handsFree = false                         // push-to-talk, closed
        XCTAssertEqual(frame(gate).max(), 0)
        XCTAssertEqual(levels.last ?? 0, -20, accuracy: 0.1, "the meter still moves")
        gate.pushToTalk = true
        XCTAssertEqual(frame(gate).max(), 0.1)
        gate.pushToTalk = false

        gate.handsFree = true
        gate.muted = true
        XCTAssertEqual(frame(gate).max(), 0)
        XCTAssertEqual(levels.last, -120, "muted: the meter rests")
        gate.muted = false
        XCTAssertEqual(frame(gate).max(), 0.1)
        XCTAssertEqual(levels.count, 5, "one level a tenth of a second")
    }
}

/// Dictation mode inside `confab talk`: while dictating, the gate records the microphone for writing down
/// and hands the conversation silence, so dictated words never become a turn or enter its history.
final class MicrophoneGateDictationTests: XCTestCase {

    func testDictationRecordsTheMicrophoneAndTheConversationHearsSilence() {
        let gate = MicrophoneGate(MicrophoneGateTests.Tone(), onLevel: { _ in })
        gate.handsFree = true
        XCTAssertEqual(frame(gate).max(), 0.1, "hands-free before dictation")
        gate.handsFree = false                                    // what the front end sets for dictation mode
        gate.startDictation()
        XCTAssertEqual(frame(gate).max(), 0, "the conversation hears silence while dictating")
        gate.pushToTalk = true                                    // even a stray push-to-talk does not leak it
        XCTAssertEqual(frame(gate, samples: 800).max(), 0)
        gate.pushToTalk = false
        let said = gate.stopDictation()
        XCTAssertEqual(said.count, 2400)
        XCTAssertEqual(said.max(), 0.1)
        XCTAssertEqual(said.min(), 0.1, "the recording is the real signal, not the silenced copy")
        XCTAssertEqual(gate.stopDictation(), [], "taken once")
        XCTAssertEqual(frame(gate).max(), 0, "closed: nothing recorded, push-to-talk closed")
        XCTAssertEqual(gate.stopDictation(), [])
        gate.handsFree = true
        XCTAssertEqual(frame(gate).max(), 0.1, "back in hands-free the conversation hears the microphone")
    }

    func testMutedDictationRecordsNothing() {
        let gate = MicrophoneGate(MicrophoneGateTests.Tone(), onLevel: { _ in })
        gate.handsFree = false
        gate.muted = true
        gate.startDictation()
        _ = frame(gate)
        XCTAssertEqual(gate.stopDictation(), [])
    }
}

/// The writer both dictation screens share: one line per utterance, flushed to the file as it is
/// recognized, nothing for an utterance with no words.
final class DictationWriterTests: XCTestCase {
    final class Scripted: Transcribing, @unchecked Sendable {
        private let lock = NSLock()
        private var texts: [String]
        private(set) var lengths: [Int] = []
        init(_ texts: [String]) { self.texts = texts }
        func transcribe(_ samples: [Float]) throws -> Transcript {
            lock.withLock {
                lengths.append(samples.count)
                return Transcript(text: texts.removeFirst(), segments: [], language: "en")
            }
        }
    }

    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [String] = []
        func add(_ v: String) { lock.withLock { values.append(v) } }
        var all: [String] { lock.withLock { values } }
    }

    func testEachUtteranceIsAppendedToTheFileAndShown() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dictation-\(getpid()).txt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "earlier\n".write(toFile: path, atomically: true, encoding: .utf8)
        let asr = Scripted([" What time is it? ", "  ", "Thank you."])
        let shown = Lines()
        let writer = DictationWriter(asr: asr, sink: try DictationOutput(path: path), onText: { shown.add($0) },
                                     onNothing: { shown.add("(nothing)") })
        writer.add([Float](repeating: 0.1, count: 16000))
        writer.add([Float](repeating: 0.1, count: 8000))
        writer.add([Float](repeating: 0.1, count: 8000), sampleRate: 8000)   // resampled to 16 kHz
        writer.add([])                                                         // nothing to transcribe
        XCTAssertTrue(writer.finish(timeout: 10))
        XCTAssertFalse(writer.isBusy)
        XCTAssertEqual(shown.all, ["What time is it?", "(nothing)", "Thank you."])
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "earlier\nWhat time is it?\nThank you.\n")
        XCTAssertEqual(asr.lengths.count, 3)
        XCTAssertEqual(Double(asr.lengths[2]), 16000, accuracy: 200)
    }
}

/// What the conversation reads from the gate for one frame.
private func frame(_ gate: MicrophoneGate, samples: Int = 1600) -> [Float] {
    var b = [Float](repeating: -1, count: samples)
    let n = b.withUnsafeMutableBufferPointer { gate.read(into: $0.baseAddress!, count: samples) }
    XCTAssertEqual(n, samples)
    return b
}
