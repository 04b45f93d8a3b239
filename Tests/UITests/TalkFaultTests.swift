import AudioIO
import Engine
import Foundation
import XCTest

/// `confab talk` in a real pseudo-terminal when things go wrong, for real: a microphone that stops working (an ALSA
/// `file` plugin whose copy of the audio goes into a pipe that closes), a speaker that fails (/dev/full), a session log
/// on a full disk, a language model file truncated while loaded, and SIGINT/SIGTERM/SIGHUP while loading, listening,
/// answering and speaking. Each time: the problem said in one line naming the device or file (on screen while it
/// runs, on standard error after), the turns so far in the session log, the terminal given back as it was, and an
/// exit status that says what happened (1 for a fault, 128 + n for signal n). Uses the smallest language model.
final class TalkFaultTests: XCTestCase {
    var pty: PseudoTerminal!
    let llm = ["--llm", "smollm2-135m"]

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: PseudoTerminal.binary), "confab not built next to the tests")
        pty = try PseudoTerminal("faults")
    }
    override func tearDown() { pty.close() }

    /// The confab process under the pane's shell.
    func confabPID(file: StaticString = #filePath, line: UInt = #line) -> Int32? {
        let shell = pty.tmux(["list-panes", "-t", "t", "-F", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)
        for _ in 0..<50 {
            if let pid = Int32(pty.run("pgrep -P \(shell)").trimmingCharacters(in: .whitespacesAndNewlines)) { return pid }
            usleep(100_000)
        }
        XCTFail("no confab under the pane's shell", file: file, line: line)
        return nil
    }

    func ready(_ s: String) -> Bool { s.contains("ready in") }
    func turns(_ log: String) -> [TurnRecord] { (try? SessionLog.read(log)) ?? [] }
    func count(_ text: String, in s: String) -> Int { s.components(separatedBy: text).count - 1 }

    /// A reply finished on screen (no streaming cursor) after a typed line.
    func replied(_ s: String) -> Bool { s.contains("confab › ") && !s.contains("▍") }

    func testAMicrophoneThatStopsWorkingLeavesTypedInput() throws {
        // The microphone's copy of its audio goes to a command that takes a second of it and exits: the device fails
        // (an I/O error) a few seconds in, once the pipe's buffer has filled.
        try pty.writeDevices(mic: [Float](repeating: 0, count: 16000 * 60), speaker: true, micTee: "| head -c 32000 > /dev/null")
        let log = pty.path("session.jsonl")
        pty.start(["--capture-device", "mic", "--playback-device", "spk", "--session-log", log] + llm, cols: 200)
        let lost = pty.waitFor("the microphone to fail", timeout: 90) { $0.contains("typed input only from now on") }
        XCTAssertEqual(count("! ALSA capture device 'mic' stopped working (Input/output error)", in: lost), 1, lost)
        XCTAssertTrue(lost.contains("typed"), "the mode is typed input now: \(lost)")

        pty.type("Say hello.")
        pty.send("Enter")
        pty.waitFor("the typed line's reply", timeout: 60) { self.replied($0) && $0.contains("you › Say hello.") }
        pty.waitFor("the turn in the log") { _ in !self.turns(log).isEmpty }
        pty.send("C-c")
        XCTAssertEqual(pty.waitForExit(), "1", "a session that lost its microphone is not a plain success")
        pty.assertTerminalSane()
        XCTAssertEqual(turns(log).first?.transcript, "Say hello.")
        let after = pty.screen()
        XCTAssertEqual(count("confab: ALSA capture device 'mic' stopped working (Input/output error): was it unplugged? run `confab devices`: typed input only from now on", in: after), 1, after)
    }

    func testASpeakerThatFailsLeavesTheRepliesAsText() throws {
        try pty.writeDevices(mic: nil, speaker: true, speakerFile: "/dev/full")
        let log = pty.path("session.jsonl")
        pty.start(["--playback-device", "spk", "--session-log", log] + llm, cols: 200)
        pty.waitFor("the models", timeout: 90) { self.ready($0) }
        pty.type("Say hello.")
        pty.send("Enter")
        let shown = pty.waitFor("the reply and the speaker's failure", timeout: 60) {
            self.replied($0) && $0.contains("replies are shown as text only from now on")
        }
        XCTAssertEqual(count("! ALSA playback device 'spk' stopped working (Input/output error)", in: shown), 1, shown)
        pty.waitFor("the turn in the log") { _ in !self.turns(log).isEmpty }
        guard let pid = confabPID() else { return }
        kill(pid, SIGHUP)
        XCTAssertEqual(pty.waitForExit(), "129")
        pty.assertTerminalSane()
        let turn = try XCTUnwrap(turns(log).first)
        XCTAssertEqual(turn.transcript, "Say hello.")
        XCTAssertFalse(turn.reply.isEmpty)
        let after = pty.screen()
        XCTAssertEqual(count("confab: ALSA playback device 'spk' stopped working (Input/output error): was it unplugged? run `confab devices`: replies are shown as text only from now on", in: after), 1, after)
        XCTAssertTrue(after.contains("confab: stopped by SIGHUP"), after)
    }

    func testASessionLogOnAFullDiskIsSaidOnceAndTheConversationGoesOn() throws {
        try pty.writeDevices(mic: nil, speaker: false)
        pty.start(["--session-log", "/dev/full"] + llm, cols: 200)
        pty.waitFor("the models", timeout: 90) { self.ready($0) }
        pty.type("Say hello.")
        pty.send("Enter")
        pty.waitFor("the first reply", timeout: 60) { self.replied($0) && $0.contains("the session log is off") }
        pty.type("Say goodbye.")
        pty.send("Enter")
        let second = pty.waitFor("the second reply", timeout: 60) { self.replied($0) && $0.contains("you › Say goodbye.") && $0.contains("→ ") }
        XCTAssertEqual(count("! /dev/full: cannot write the session log (No space left on device)", in: second), 1, "said once: \(second)")
        pty.send("C-c")
        XCTAssertEqual(pty.waitForExit(), "1")
        pty.assertTerminalSane()
        XCTAssertEqual(count("confab: /dev/full: cannot write the session log (No space left on device): the session log is off from here on (0 turns written; the conversation goes on)", in: pty.screen()), 1, pty.screen())
    }

    /// The language model's file is truncated under the running model (a copy of the smallest model: the store's files
    /// are never touched): the next reply reads weights that are gone. One line naming the file, exit status 1, the
    /// terminal back — not a crash.
    func testALanguageModelFileTruncatedWhileLoadedIsAMessageNotACrash() throws {
        try pty.writeDevices(mic: nil, speaker: false)
        let original = try ModelStore().resolve("smollm2-135m", kind: .llm)
        let copy = pty.path("model.gguf")
        try FileManager.default.copyItem(atPath: original.path, toPath: copy)
        pty.start(["--llm", copy, "--session-log", pty.path("session.jsonl")], cols: 250)
        pty.waitFor("the models", timeout: 90) { self.ready($0) }
        XCTAssertEqual(truncate(copy, 4096), 0)
        pty.type("Say hello.")
        pty.send("Enter")
        XCTAssertEqual(pty.waitForExit(timeout: 60), "1")
        pty.assertTerminalSane()
        let after = pty.screen()
        XCTAssertTrue(after.contains("confab: \(copy): the model file was truncated while in use"), after)
        XCTAssertFalse(after.contains("Crash") || after.contains("Fatal error"), after)
    }

    /// SIGTERM while the models load, SIGINT while listening, SIGHUP while a reply is written and spoken: each closes
    /// the screen cleanly, says which signal, keeps the turn and exits with 128 + n.
    func testSignalsInEachPhaseRestoreTheTerminalAndKeepTheLog() throws {
        try pty.writeDevices(mic: [Float](repeating: 0, count: 16000 * 60), speaker: true)
        pty.start(["--capture-device", "mic", "--playback-device", "spk"] + llm)
        pty.waitFor("the screen") { $0.contains("loading") }
        guard let loading = confabPID() else { return }
        kill(loading, SIGTERM)
        XCTAssertEqual(pty.waitForExit(), "143")
        pty.assertTerminalSane()
        XCTAssertTrue(pty.screen().contains("confab: stopped by SIGTERM"), pty.screen())
        pty.close()

        pty = try PseudoTerminal("faults-listening")
        try pty.writeDevices(mic: [Float](repeating: 0, count: 16000 * 60), speaker: true)
        pty.start(["--capture-device", "mic", "--playback-device", "spk"] + llm)
        pty.waitFor("the models", timeout: 90) { self.ready($0) }
        guard let listening = confabPID() else { return }
        kill(listening, SIGINT)
        XCTAssertEqual(pty.waitForExit(), "130")
        pty.assertTerminalSane()
        XCTAssertTrue(pty.screen().contains("confab: stopped by SIGINT"), pty.screen())
        pty.close()

        pty = try PseudoTerminal("faults-answering")
        try pty.writeDevices(mic: nil, speaker: true)
        let log = pty.path("session.jsonl")
        pty.start(["--playback-device", "spk", "--session-log", log] + llm)
        pty.waitFor("the models", timeout: 90) { self.ready($0) }
        pty.type("Tell me a long story about a cat.")
        pty.send("Enter")
        pty.waitFor("the reply to start") { $0.range(of: "confab › [A-Za-z]", options: .regularExpression) != nil }
        guard let answering = confabPID() else { return }
        kill(answering, SIGHUP)
        XCTAssertEqual(pty.waitForExit(), "129")
        pty.assertTerminalSane()
        XCTAssertTrue(pty.screen().contains("confab: stopped by SIGHUP"), pty.screen())
        let turn = try XCTUnwrap(turns(log).first, "the turn in flight is logged")
        XCTAssertEqual(turn.transcript, "Tell me a long story about a cat.")
        XCTAssertTrue(turn.interrupted)
        XCTAssertFalse(turn.reply.isEmpty)
    }
}
