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

    func frame(_ gate: MicrophoneGate, samples: Int = 1600) -> [Float] {
        var b = [Float](repeating: -1, count: samples)
        let n = b.withUnsafeMutableBufferPointer { gate.read(into: $0.baseAddress!, count: samples) }
        XCTAssertEqual(n, samples)
        return b
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
