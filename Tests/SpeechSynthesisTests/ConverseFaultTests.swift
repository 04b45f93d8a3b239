import AudioIO
import ConfabTestSupport
import Engine
import Foundation
import XCTest

/// `confab converse` when things go wrong, for real, with the real models (the smallest language model, to stay
/// quick): a microphone that stops working mid-conversation, a speaker that fails, a session log on a full disk, and
/// SIGINT/SIGTERM/SIGHUP while loading, listening, transcribing, generating and speaking. Each time: one line
/// naming the device or file and the problem, every turn said before it in the session log, and an exit status that
/// says what happened (1 for a fault, 128 + n for signal n).
final class ConverseFaultTests: XCTestCase {
    var dir: URL!
    let llm = ["--llm", "smollm2-135m"]

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("confab-converse-faults-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func speech(_ name: String) throws -> [Float] {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SpeechRecognitionTests/Fixtures/\(name)")
        return try AudioFile.readMono(fixture.path, sampleRate: 16000)
    }
    func silence(_ seconds: Double) -> [Float] { [Float](repeating: 0, count: Int(seconds * 16000)) }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// ALSA file-plugin devices (paced to real time by Confab's audio threads): `mic` reads `samples` (then silence)
    /// and copies what it captured to `tee`; `speaker` writes what it plays to `speakerFile` (raw S16_LE, 16 kHz).
    func devices(mic samples: [Float], tee: String = "/dev/null", speakerFile: String) throws {
        var pcm = Data(capacity: samples.count * 2)
        for s in samples { var v = Int16(max(-1, min(1, s)) * 32767).littleEndian; withUnsafeBytes(of: &v) { pcm.append(contentsOf: $0) } }
        try pcm.write(to: URL(fileURLWithPath: path("mic.raw")))
        try """
        pcm.mic_raw { type file; slave.pcm "null"; file "\(tee)"; infile "\(path("mic.raw"))"; format "raw" }
        pcm.mic { type plug; slave { pcm "mic_raw"; format S16_LE; rate 16000; channels 1 } }
        pcm.speaker_raw { type file; slave.pcm "null"; file "\(speakerFile)"; format "raw" }
        pcm.speaker { type plug; slave { pcm "speaker_raw"; format S16_LE; rate 16000; channels 1 } }
        """.write(to: dir.appendingPathComponent(".asoundrc"), atomically: true, encoding: .utf8)
    }

    func live(_ extra: [String] = []) throws -> RunningConfab {
        try RunningConfab(["converse", "--capture-device", "mic", "--playback-device", "speaker"] + llm + extra, in: dir,
                          setting: ["HOME": dir.path])
    }

    func turns(_ log: String) -> [TurnRecord] { (try? SessionLog.read(log)) ?? [] }

    /// Lines of standard error that start with "confab: " other than the load-time note.
    func said(_ err: String) -> [String] {
        err.split(separator: "\n").map(String.init).filter { $0.hasPrefix("confab: ") && !$0.contains("models loaded in") }
    }

    func testAMicrophoneThatStopsWorkingEndsTheConversationWithTheTurnKept() throws {
        // Not "What time is it?": its reply gets the minute's local time, and at some minutes SmolLM2 loops for its
        // 512 tokens, which take minutes to speak before the conversation can end (a clean-clone CI run at 23:35).
        let question = silence(1) + (try speech("lights_kitchen.wav")) + silence(1.5)
        // The device's copy of what it captured goes to a command that takes the question's worth, then exits: the
        // device fails (an I/O error) a second or two later, once the pipe's buffer has filled.
        try devices(mic: question, tee: "| head -c \(question.count * 2) > /dev/null", speakerFile: path("speaker.raw"))
        let log = path("session.jsonl")
        let run = try live(["--session-log", log])
        let status = run.exitStatus(timeout: 90)
        XCTAssertEqual(status, 1, "stdout: \(run.out)\nstderr: \(run.err)")
        XCTAssertEqual(said(run.err), ["confab: ALSA capture device 'mic' stopped working (Input/output error): was it unplugged? run `confab devices`: the conversation ends (what was said is kept)"], run.err)
        let logged = turns(log)
        XCTAssertEqual(logged.count, 1, "the question before the failure is kept: \(logged)")
        XCTAssertTrue(logged.first?.transcript.lowercased().contains("lights in the kitchen") ?? false, "\(logged)")
        XCTAssertTrue(run.out.lowercased().contains("you: turn off") && run.out.lowercased().contains("lights in the kitchen"), run.out)
    }

    func testASpeakerThatFailsLeavesTheRepliesAsText() throws {
        try devices(mic: silence(1) + (try speech("what_time.wav")) + silence(30), speakerFile: "/dev/full")
        let log = path("session.jsonl")
        let run = try live(["--session-log", log])
        XCTAssertTrue(run.wait(timeout: 90) { !turns(log).isEmpty }, "no turn logged: \(run.err)")
        run.signal(SIGTERM)
        XCTAssertEqual(run.exitStatus(timeout: 15), 128 + SIGTERM, run.err)
        XCTAssertEqual(said(run.err), ["confab: ALSA playback device 'speaker' stopped working (Input/output error): was it unplugged? run `confab devices`: replies are printed as text only from now on",
                                       "confab: stopped by SIGTERM"], run.err)
        let turn = try XCTUnwrap(turns(log).first)
        XCTAssertTrue(turn.transcript.lowercased().contains("what time"), turn.transcript)
        XCTAssertFalse(turn.reply.isEmpty)
        XCTAssertTrue(run.out.contains(turn.reply.trimmingCharacters(in: .whitespacesAndNewlines).prefix(20)), "the reply is printed: \(run.out)")
        XCTAssertFalse(turn.interrupted, "a reply nobody could hear still ends as a whole: \(turn)")
    }

    func testASessionLogOnAFullDiskIsSaidOnceAndTheConversationGoesOn() throws {
        let wav = path("two.wav")
        try AudioFile.write(wav, samples: silence(1) + (try speech("what_time.wav")) + silence(1.5) + (try speech("lights_kitchen.wav")) + silence(1),
                            sampleRate: 16000)
        let r = try ConfabProcess.run(["converse", "--input", wav, "--json", "--session-log", "/dev/full"] + llm)
        XCTAssertEqual(r.status, 1, r.err)
        XCTAssertEqual(said(r.err), ["confab: /dev/full: cannot write the session log (No space left on device): the session log is off from here on (0 turns written; the conversation goes on)"], r.err)
        let turnLines = r.out.split(separator: "\n").filter { !$0.hasPrefix("{\"partial\"") }
        XCTAssertEqual(turnLines.count, 2, "both questions answered: \(r.out)")
    }

    /// Standard output on a full disk: said once, the conversation goes on to its end (the log has both turns).
    func testStandardOutputOnAFullDiskIsSaidOnceNotACrash() throws {
        let wav = path("two.wav")
        try AudioFile.write(wav, samples: silence(1) + (try speech("what_time.wav")) + silence(1.5) + (try speech("lights_kitchen.wav")) + silence(1),
                            sampleRate: 16000)
        let log = path("session.jsonl")
        let p = Process()
        p.executableURL = try ConfabProcess.binary()
        p.arguments = ["converse", "--input", wav, "--json", "--session-log", log] + llm
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
        let err = Pipe()
        p.standardError = err
        try p.run()
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, e)
        XCTAssertEqual(p.terminationStatus, 1, e)
        XCTAssertEqual(said(e), ["confab: standard output cannot be written (No space left on device): the conversation is no longer printed"], e)
        XCTAssertEqual(turns(log).count, 2, "both questions answered and logged")
    }

    func testSignalsWhileLoadingEndTheProcessAtOnce() throws {
        let wav = path("q.wav")
        try AudioFile.write(wav, samples: silence(1) + (try speech("what_time.wav")) + silence(1), sampleRate: 16000)
        for (sig, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP")] {
            let run = try RunningConfab(["converse", "--input", wav, "--session-log", path("log-\(name)")] + llm, in: dir)
            XCTAssertTrue(run.waitUntilSignalsAreHandled(), run.err)   // then loading three models takes far longer
            run.signal(sig)
            XCTAssertEqual(run.exitStatus(timeout: 10), 128 + sig, run.err)
            XCTAssertEqual(said(run.err), ["confab: stopped by \(name) while loading the models"], run.err)
            XCTAssertEqual(run.out, "")
        }
    }

    /// Listening (nothing said yet), then with the question: while it is recognized or answered, and while the reply
    /// is heard. Whatever phase the signal lands in, the question is in the log (as an interrupted turn, with as much
    /// of the reply as was written), and nothing hangs.
    func testSignalsWhileListeningAnsweringAndSpeakingKeepWhatWasSaid() throws {
        try devices(mic: silence(2) + (try speech("what_time.wav")) + silence(30), speakerFile: path("speaker.raw"))

        // Listening: the models loaded, the first 2 s are silence.
        var log = path("listening.jsonl")
        var run = try live(["--session-log", log])
        XCTAssertTrue(run.wait(timeout: 60) { run.err.contains("models loaded in") }, run.err)
        run.signal(SIGINT)
        XCTAssertEqual(run.exitStatus(timeout: 15), 128 + SIGINT, run.err)
        XCTAssertEqual(said(run.err), ["confab: stopped by SIGINT"], run.err)
        XCTAssertEqual(turns(log).count, 0)

        // The words are coming in (their first partial transcript): what was said so far is recognized and logged.
        log = path("hearing.jsonl")
        run = try live(["--session-log", log, "--json"])
        XCTAssertTrue(run.wait(timeout: 60) { run.out.contains("{\"partial\"") }, run.err)
        run.signal(SIGHUP)
        XCTAssertEqual(run.exitStatus(timeout: 15), 128 + SIGHUP, run.err)
        XCTAssertEqual(said(run.err), ["confab: stopped by SIGHUP"], run.err)
        var logged = turns(log)
        XCTAssertEqual(logged.count, 1, "\(logged); stdout: \(run.out)")
        XCTAssertTrue(logged.first?.transcript.lowercased().contains("what") ?? false, "\(logged)")
        XCTAssertEqual(logged.first?.interrupted, true)

        // Transcribed, being answered (the transcript is out): the turn is logged, interrupted.
        log = path("answering.jsonl")
        run = try live(["--session-log", log])
        XCTAssertTrue(run.wait(timeout: 60) { run.out.contains("you: ") }, run.err)
        run.signal(SIGTERM)
        XCTAssertEqual(run.exitStatus(timeout: 15), 128 + SIGTERM, run.err)
        XCTAssertEqual(said(run.err), ["confab: stopped by SIGTERM"], run.err)
        logged = turns(log)
        XCTAssertEqual(logged.count, 1, "\(logged)")
        XCTAssertTrue(logged.first?.transcript.lowercased().contains("what time") ?? false, "\(logged)")
        XCTAssertEqual(logged.first?.interrupted, true)

        // Speaking (the reply reaches the speaker): logged with what was heard of it.
        log = path("speaking.jsonl")
        let speaker = path("speaker.raw")
        try? FileManager.default.removeItem(atPath: speaker)
        run = try live(["--session-log", log])
        XCTAssertTrue(run.wait(timeout: 60) { audible(speaker) }, "the reply never played: \(run.err)")
        run.signal(SIGINT)
        XCTAssertEqual(run.exitStatus(timeout: 15), 128 + SIGINT, run.err)
        XCTAssertEqual(said(run.err), ["confab: stopped by SIGINT"], run.err)
        logged = turns(log)
        XCTAssertEqual(logged.count, 1, "\(logged)")
        XCTAssertFalse(logged.first?.reply.isEmpty ?? true, "\(logged)")
    }

    /// The speaker file holds some sound (the reply started playing).
    func audible(_ path: String) -> Bool {
        guard let raw = try? Data(contentsOf: URL(fileURLWithPath: path)) else { return false }
        return raw.withUnsafeBytes { b in b.bindMemory(to: Int16.self).contains { abs(Int(Int16(littleEndian: $0))) > 300 } }
    }
}
