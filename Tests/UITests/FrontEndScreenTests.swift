import AudioIO
import Engine
import Foundation
import XCTest

/// `confab` (the conversation front end) and `confab play` in a real pseudo-terminal (tmux), with ALSA
/// file-plugin devices and the real default models (they must be installed: these tests fail, never skip).
final class FrontEndScreenTests: XCTestCase {
    var pty: PseudoTerminal!

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: PseudoTerminal.binary), "confab not built next to the tests")
        pty = try PseudoTerminal("frontend")
    }
    override func tearDown() { pty.close() }

    /// Seconds of 16 kHz audio louder than -40 dBFS.
    func audibleSeconds(_ x: [Float]) -> Double { Double(x.filter { abs($0) > 0.01 }.count) / 16000 }

    /// The reply as the screen shows it: the text after "confab › " and its wrapped continuation lines.
    static func replyText(_ screen: String) -> String {
        var out: [String] = [], inReply = false
        for line in screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if let r = line.range(of: "confab › ") { out = [String(line[r.upperBound...])]; inReply = true; continue }
            if inReply && line.hasPrefix("         ") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
                out.append(line.trimmingCharacters(in: .whitespaces))
            } else { inReply = false }
        }
        return out.joined(separator: " ")
    }

    /// Whisper hears most of the reply's words in `path`: the audio holds that reply, not just any sound.
    func assertSpeaks(_ path: String, _ reply: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let audio = try AudioFile.readMono(path, sampleRate: 16000)   // --output is a WAV the program closes
        XCTAssertGreaterThan(audio.count, 4000, "reply audio too short", file: file, line: line)
        let heard = try WhisperTranscriber(directory: try ModelStore().resolve(nil, kind: .whisper)).transcribe(audio).text
        func words(_ s: String) -> Set<String> {
            Set(s.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init))
        }
        let said = words(reply), back = words(heard)
        XCTAssertFalse(said.isEmpty, "no reply on screen", file: file, line: line)
        let overlap = Double(said.intersection(back).count) / Double(max(said.count, 1))
        XCTAssertGreaterThanOrEqual(overlap, 0.5, "reply \"\(reply)\" came back as \"\(heard)\"", file: file, line: line)
    }

    /// The reply has finished streaming (no cursor) and the turn's latency line is complete.
    static func turnDone(_ s: String) -> Bool {
        s.contains("confab › ") && s.contains("→ first audio") && !s.contains("▍")
    }

    func testSpokenQuestionShowsTranscriptReplyAndLatencyAndThePlaybackFileHoldsTheReply() throws {
        try pty.writeDevices(mic: try spokenQuestion("what_time.wav"), speaker: true)
        pty.start(["--capture-device", "mic", "--playback-device", "spk"])

        let loaded = pty.waitFor("the models to load", timeout: 120) { $0.contains("ready in") && $0.contains("just talk") }
        XCTAssertTrue(loaded.contains("loading speech recognition tiny.en ("), loaded)
        XCTAssertTrue(loaded.contains(" MB)"), "model sizes shown while loading: \(loaded)")
        XCTAssertTrue(loaded.contains("hands-free"), loaded)
        XCTAssertTrue(loaded.contains("mic mic") && loaded.contains("speaker spk"), "header names the devices: \(loaded)")

        let heard = pty.waitFor("the transcript", timeout: 60) { $0.lowercased().contains("you › what time is it") }
        XCTAssertFalse(heard.isEmpty)
        let done = pty.waitFor("the reply and the latency line", timeout: 120, Self.turnDone)
        XCTAssertTrue(done.contains("last turn: end of speech → transcript"), done)
        XCTAssertTrue(done.contains("→ first token"), done)

        pty.send("q")
        XCTAssertEqual(pty.waitForExit(), "0")
        pty.assertTerminalSane()
        // The device is paced in real time, so on a busy machine the reply can reach it with gaps (synthesis
        // underruns) that make Whisper's check unreliable: require speech as long as the words need.
        // (The typed test checks the words themselves through --output, which is not paced.)
        let words = Self.replyText(done).split(separator: " ").count
        XCTAssertGreaterThan(words, 0)
        XCTAssertGreaterThan(audibleSeconds(pty.played()), max(0.5, 0.1 * Double(words)),
                             "the playback device received the spoken reply")
    }

    func testWithoutASoundCardTheScreenOpensAndTypedInputGetsAReplyInTheOutputFile() throws {
        try pty.writeDevices(mic: nil, speaker: false)
        pty.start(["--device", "nosuchpcm", "--output", "reply.wav"])

        let opened = pty.waitFor("the no-microphone message") { $0.contains("no microphone") }
        XCTAssertTrue(opened.contains("nosuchpcm"), "the message names the device: \(opened)")
        XCTAssertTrue(opened.contains("typed input only"), opened)
        XCTAssertTrue(opened.contains("Enter send"), "typed-input keys: \(opened)")
        pty.waitFor("the models to load", timeout: 120) { $0.contains("ready in") }

        pty.type("Say hello in one short sentence.")
        pty.waitFor("the typed line in the editor") { $0.contains("› Say hello in one short sentence.") }
        pty.send("Enter")
        pty.waitFor("the typed turn") { $0.contains("you › Say hello in one short sentence.") }
        let done = pty.waitFor("the reply", timeout: 120, Self.turnDone)
        XCTAssertTrue(done.contains("last turn: Enter → first token"), "a typed turn has no speech stage: \(done)")
        let reply = Self.replyText(done)

        pty.resize(cols: 40, rows: 12)
        let small = pty.waitFor("the 40×12 layout") { s in
            let lines = s.split(separator: "\n", omittingEmptySubsequences: false)
            return lines.count <= 13 && s.contains("confab") && s.contains("Enter send") && lines.allSatisfy { $0.count <= 40 }
        }
        pty.assertFits(small, cols: 40, rows: 12)
        // The transcript no longer fits: scroll back and forth.
        pty.send("PPage")
        pty.waitFor("the scroll-back marker") { $0.contains(" more") && $0.contains("↑ ") }
        pty.send("NPage")
        pty.waitFor("the newest lines again") { !$0.contains("↑ ") && $0.contains("confab › ") }
        pty.resize(cols: 100, rows: 24)
        pty.waitFor("the full layout again") { $0.contains("PgUp/PgDn scroll · ^C quit") && $0.contains("you › Say hello") }

        // Save the transcript (into the working folder).
        pty.send("C-s")
        pty.waitFor("the saved notice") { $0.contains("saved ") }
        let saved = try FileManager.default.contentsOfDirectory(atPath: pty.dir.path).filter { $0.hasPrefix("confab-") && $0.hasSuffix(".txt") }
        XCTAssertEqual(saved.count, 1, "\(saved)")
        let text = try String(contentsOfFile: pty.path(saved.first ?? "-"), encoding: .utf8)
        XCTAssertTrue(text.contains("you: Say hello in one short sentence.\nconfab: "), text)

        // The line editor: ↑ recalls the last line, UTF-8 and wide characters are edited as whole characters.
        func editorLine(_ s: String) -> String? {
            s.split(separator: "\n").first { $0.hasPrefix("› ") }.map { String($0).trimmingCharacters(in: .whitespaces) }
        }
        pty.send("Up")
        pty.waitFor("the recalled line") { editorLine($0) == "› Say hello in one short sentence." }
        pty.type("ü日")
        pty.waitFor("the wide character") { editorLine($0) == "› Say hello in one short sentence.ü日" }
        pty.send("BSpace")
        pty.send("BSpace")
        pty.waitFor("two characters rubbed out") { editorLine($0) == "› Say hello in one short sentence." }

        // Clear the conversation.
        pty.send("C-l")
        let cleared = pty.waitFor("the cleared conversation") { $0.contains("conversation cleared") }
        XCTAssertFalse(cleared.contains("you › Say hello"), cleared)

        pty.send("C-c")
        XCTAssertEqual(pty.waitForExit(), "0")
        pty.assertTerminalSane()
        try assertSpeaks(pty.path("reply.wav"), reply)
    }

    func testPlaybackShowsProgressAndSIGTERMRestoresTheTerminal() throws {
        try pty.writeDevices(mic: nil, speaker: true)
        let tone = (0..<(16000 * 30)).map { 0.3 * sinf(2 * .pi * 440 * Float($0) / 16000) }
        try AudioFile.write(pty.path("tone.wav"), samples: tone, sampleRate: 16000)
        pty.start(["play", "tone.wav", "--device", "spk"])

        let playing = pty.waitFor("the playback screen") { $0.contains("confab play") && $0.contains("tone.wav  0:01") }
        XCTAssertTrue(playing.contains("/ 0:30.0"), playing)
        XCTAssertTrue(playing.contains("%"), "a progress bar: \(playing)")
        XCTAssertTrue(playing.contains("out "), "the output level meter: \(playing)")

        // SIGTERM to confab (the pane's shell runs it as its child).
        let shell = pty.tmux(["list-panes", "-t", "t", "-F", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(shell.isEmpty)
        let child = pty.run("pgrep -P \(shell)")
        guard let pid = Int32(child.trimmingCharacters(in: .whitespacesAndNewlines)) else { return XCTFail("no confab under the pane's shell: \(child)") }
        XCTAssertEqual(kill(pid, SIGTERM), 0)
        let status = pty.waitForExit()
        XCTAssertNotNil(status)
        XCTAssertNotEqual(status, "0", "a stopped playback is not a success")
        pty.assertTerminalSane()
        let played = audibleSeconds(pty.played())
        XCTAssertGreaterThan(played, 0.5)
        XCTAssertLessThan(played, 25, "playback stopped at SIGTERM")
    }

    func testAMissingModelIsShownWithItsInstallCommandWithoutColoursUnderNO_COLOR() throws {
        try pty.writeDevices(mic: nil, speaker: false)
        let empty = pty.path("no-models")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        // Wide enough for the whole message on one line.
        pty.start(["--device", "nosuchpcm"], env: ["CONFAB_MODELS": empty, "NO_COLOR": "1"], cols: 200)

        let shown = pty.waitFor("the missing-model message") { $0.contains("confab models install tiny.en") }
        XCTAssertTrue(shown.contains("no playback device"), "no sound card at all is said plainly: \(shown)")
        XCTAssertTrue(shown.contains("replies are shown as text only"), shown)
        // NO_COLOR: attributes (bold, reverse) but no foreground or background colours.
        let styled = pty.tmux(["capture-pane", "-t", "t", "-p", "-e"])
        XCTAssertNil(styled.range(of: "\u{1B}\\[([0-9;]*;)?[34][0-7]m", options: .regularExpression), "colours despite NO_COLOR")
        XCTAssertNotNil(styled.range(of: "\u{1B}[7m"), "the header is still set apart (reverse video)")

        pty.send("C-c")
        XCTAssertEqual(pty.waitForExit(), "1")
        pty.assertTerminalSane()
        // After the screen closes the message stays in the terminal, on standard error.
        XCTAssertTrue(pty.screen().contains("confab: speech recognition: model 'tiny.en' is not installed"), pty.screen())
    }

    /// A crash (here a SIGSEGV from outside) still gives the terminal back; the crash itself is kept (exit 139).
    func testACrashStillRestoresTheTerminal() throws {
        try pty.writeDevices(mic: nil, speaker: false)
        let empty = pty.path("no-models")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        // Without the Swift runtime's backtracer (it would take its time over a report of every thread).
        pty.start(["--device", "nosuchpcm"], env: ["CONFAB_MODELS": empty, "SWIFT_BACKTRACE": "enable=no"])
        pty.waitFor("the screen") { $0.contains("no microphone") }
        let shell = pty.tmux(["list-panes", "-t", "t", "-F", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(pty.run("pgrep -P \(shell)").trimmingCharacters(in: .whitespacesAndNewlines)) else {
            return XCTFail("no confab under the pane's shell")
        }
        XCTAssertEqual(kill(pid, SIGSEGV), 0)
        XCTAssertEqual(pty.waitForExit(), "139")
        pty.assertTerminalSane()
    }
}
