import AudioIO
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

    func testHandsFreeDictationGetsTheMicrophoneAndTheConversationHearsSilence() throws {
        final class Utterances: @unchecked Sendable {
            let lock = NSLock(); var lengths: [Int] = []
        }
        let got = Utterances()
        let speech = try AudioFile.readMono(PseudoTerminal.speechFixture("what_time.wav"), sampleRate: 16000)
        let source = FileCaptureSource(samples: [Float](repeating: 0, count: 16000) + speech, trailingSilence: 0.2)
        let listener = DictationListener(sampleRate: 16000, hangover: 0.5,
                                         onUtterance: { u in got.lock.withLock { got.lengths.append(u.count) } })
        let gate = MicrophoneGate(source, onLevel: { _ in }, dictation: listener)
        gate.handsFree = false                                    // what the front end sets for hands-free dictation
        listener.isHandsFree = true
        var heard: Float = 0
        var b = [Float](repeating: 0, count: 320)
        while true {
            let n = b.withUnsafeMutableBufferPointer { gate.read(into: $0.baseAddress!, count: 320) }
            heard = max(heard, b[0..<n].map(abs).max() ?? 0)
            if n < 320 { break }
        }
        XCTAssertEqual(heard, 0, "the conversation hears silence")
        listener.finish()                                         // the file ends before the hangover passes
        let lengths = got.lock.withLock { got.lengths }
        XCTAssertEqual(lengths.count, 1, "the question is one utterance: \(lengths)")
        XCTAssertGreaterThan(lengths.first ?? 0, 16000, "the whole question (1.3 s) was handed on")
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

/// Dictation's listener (the dictate screen, headless dictation and talk's dictation modes): hands-free, each
/// spoken utterance is handed on once its hangover passed, and its words so far come before it; a partial still
/// being recognized when the speech ends is never shown; no partial starts while the recognizer has other work.
final class DictationListenerTests: XCTestCase {
    /// What the listener reported, in order.
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [String] = []
        func add(_ v: String) { lock.withLock { values.append(v) } }
        var all: [String] { lock.withLock { values } }
    }
    /// A recognizer that waits for the test before it answers (so the test decides when a partial finishes).
    final class HeldRecognizer: @unchecked Sendable {
        let started = DispatchSemaphore(value: 0), go = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var count = 0
        var calls: Int { lock.withLock { count } }
        func recognize(_ samples: [Float]) -> String {
            lock.withLock { count += 1 }
            started.signal(); go.wait()
            return "so far \(samples.count / 1600)"
        }
    }

    /// Two spoken commands, 1.5 s apart, with silence before and after (16 kHz).
    func twoUtterances() throws -> [Float] {
        let a = try AudioFile.readMono(PseudoTerminal.speechFixture("lights_kitchen.wav"), sampleRate: 16000)
        let b = try AudioFile.readMono(PseudoTerminal.speechFixture("what_time.wav"), sampleRate: 16000)
        let pause = [Float](repeating: 0, count: 24000)
        return [Float](repeating: 0, count: 16000) + a + pause + b + pause
    }

    func listener(_ log: Log, _ held: HeldRecognizer, idle: @escaping @Sendable () -> Bool = { true }) -> DictationListener {
        let l = DictationListener(
            sampleRate: 16000, hangover: 0.5,
            partials: .init(recognize: { held.recognize($0) }, isIdle: idle),
            onPartial: { log.add("partial \($0)") },
            onSpeech: { log.add("\($0)") },
            onUtterance: { log.add("utterance \($0.count / 1600)") })
        l.isHandsFree = true
        return l
    }

    func testHandsFreeUtterancesComeAfterTheirWordsSoFar() throws {
        let log = Log(), held = HeldRecognizer()
        let l = listener(log, held)
        let audio = try twoUtterances()
        var i = 0
        while i < audio.count {
            let n = min(320, audio.count - i)
            audio.withUnsafeBufferPointer { l.process($0.baseAddress! + i, count: n) }
            i += n
            // A partial started: let it finish before more audio comes (as if the machine were fast).
            if held.started.wait(timeout: .now()) == .success { release(held, andWaitFor: log) }
        }
        l.finish()
        let events = log.all
        XCTAssertEqual(events.filter { $0.hasPrefix("utterance") }.count, 2, "\(events)")
        XCTAssertEqual(events.filter { $0 == "started" }.count, 2, "\(events)")
        // started, partials, ended, utterance — twice; every partial inside its utterance, and shorter than it.
        var inside = false, partials = 0, lastPartial = 0
        for e in events {
            switch e {
            case "started": XCTAssertFalse(inside, "\(events)"); inside = true; partials = 0
            case "ended": XCTAssertTrue(inside, "\(events)"); XCTAssertGreaterThanOrEqual(partials, 1, "\(events)"); inside = false
            case _ where e.hasPrefix("partial"):
                XCTAssertTrue(inside, "a partial outside speech: \(events)"); partials += 1
                lastPartial = Int(e.split(separator: " ").last ?? "") ?? 0
            case _ where e.hasPrefix("utterance"):
                XCTAssertFalse(inside)
                XCTAssertGreaterThan(Int(e.split(separator: " ").last ?? "") ?? 0, lastPartial, "\(events)")
            default: XCTFail("unexpected \(e)")
            }
        }
        let ended = events.firstIndex(of: "ended") ?? 0
        XCTAssertEqual(events[ended + 1].hasPrefix("utterance"), true, "\(events)")
    }

    /// Lets the held recognition answer and waits (≤ 30 s) until the listener reports something more.
    private func release(_ held: HeldRecognizer, andWaitFor log: Log) {
        let before = log.all.count
        held.go.signal()
        let deadline = Date().addingTimeInterval(30)
        while log.all.count == before && Date() < deadline { usleep(1000) }
    }

    func testAPartialStillRunningWhenSpeechEndsIsNeverShown() throws {
        let log = Log(), held = HeldRecognizer()
        let l = listener(log, held)
        let audio = try twoUtterances()
        var i = 0, holding = false, releasedLate = false
        while i < audio.count {
            audio.withUnsafeBufferPointer { l.process($0.baseAddress! + i, count: 320) }
            i += 320
            if !releasedLate {
                // The first partial starts and is held while the first utterance ends (its hangover passes) …
                if !holding { holding = held.started.wait(timeout: .now()) == .success }
                if holding && log.all.contains("ended") { held.go.signal(); releasedLate = true }   // … then it answers
            } else if held.started.wait(timeout: .now()) == .success {
                release(held, andWaitFor: log)   // later ones answer at once
            }
        }
        l.finish()
        let events = log.all
        XCTAssertTrue(releasedLate, "\(events)")
        let firstEnd = try XCTUnwrap(events.firstIndex(of: "ended"))
        XCTAssertEqual(Array(events[..<firstEnd]), ["started"], "the late answer was not shown: \(events)")
        // The second utterance's partials ran only after the held one returned (one at a time), and were shown.
        XCTAssertGreaterThanOrEqual(held.calls, 2)
        XCTAssertTrue(events[firstEnd...].contains { $0.hasPrefix("partial") }, "\(events)")
        XCTAssertEqual(events.filter { $0.hasPrefix("utterance") }.count, 2, "\(events)")
    }

    func testNoPartialWhileTheRecognizerIsBusyAndPushToTalkRecordsTheUtterance() throws {
        let log = Log(), held = HeldRecognizer()
        let l = listener(log, held, idle: { false })
        l.isHandsFree = false
        l.startRecording()
        let audio = try twoUtterances()
        audio.withUnsafeBufferPointer { l.process($0.baseAddress!, count: audio.count) }
        XCTAssertTrue(l.isRecording)
        XCTAssertEqual(l.stopRecording().count, audio.count, "push-to-talk records all of it")
        XCTAssertEqual(l.stopRecording(), [], "taken once")
        XCTAssertEqual(held.calls, 0, "never idle: no partial")
        XCTAssertEqual(log.all, [], "push-to-talk: no detector events")
    }
}
