import AudioIO
import Engine
import Foundation
import XCTest

/// Dictation mode inside `confab talk`, in a real pseudo-terminal with file-plugin devices and the real
/// default models: Tab reaches dictation, Space opens the microphone before the spoken phrase and closes it
/// after (timed by the on-screen level meter, so a slow machine only shifts the timeline), and the words
/// appear on screen and in --dictation-output without a reply, a turn or any sound on the speaker.
final class TalkDictationTests: XCTestCase {
    var pty: PseudoTerminal!

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: PseudoTerminal.binary), "confab not built next to the tests")
        pty = try PseudoTerminal("talkdictate")
    }
    override func tearDown() { pty.close() }

    /// Filled cells of the microphone meter on the state row (0: silence).
    static func meter(_ screen: String) -> Int? {
        guard let row = screen.split(separator: "\n").first(where: { $0.contains(" mic ") && ($0.contains("▮") || $0.contains("·····")) })
        else { return nil }
        return row.filter { $0 == "▮" }.count
    }

    func testDictationModeWritesTheWordsOnScreenAndToTheFileWithoutAReply() throws {
        // Capture starts when the models are ready (cached, they load in about a second): 6 s of silence
        // before the phrase leave time to reach dictation and open the microphone.
        try pty.writeDevices(mic: try spokenQuestion("what_time.wav", after: 6, trailing: 20), speaker: true)
        // Wide enough for the whole header.
        pty.start(["--capture-device", "mic", "--playback-device", "spk", "--dictation-output", "dictated.txt",
                   "--session-log", "turns.jsonl"], cols: 160)

        // Tab (while the models load, or just after): hands-free → push-to-talk → typed → dictation.
        pty.waitFor("the screen") { $0.contains("loading speech recognition") }
        pty.press("Tab", until: "confab · push-to-talk ·")
        pty.press("Tab", until: "confab · typed ·")
        pty.press("Tab", until: "confab · dictation ·")
        let ready = pty.waitFor("the models to load", timeout: 120) { $0.contains("· ready in ") && $0.contains("mode: dictation — Space starts and stops") }
        XCTAssertTrue(ready.contains("Space dictate/stop · Tab mode"), "dictation's keys on the help line: \(ready)")
        XCTAssertTrue(ready.contains("dictation → dictated.txt"), "the header names the file: \(ready)")
        XCTAssertEqual(Self.meter(ready), 0, "the phrase has not started yet: \(ready)")

        pty.send("Space")
        pty.waitFor("the open microphone") { $0.contains("dictating — press Space to stop") }
        pty.waitFor("the phrase on the meter", timeout: 20) { (Self.meter($0) ?? 0) > 0 }
        // The end of the phrase: the meter at rest for a whole second (longer than a pause between words).
        var quietSince: Date?
        pty.waitFor("the end of the phrase", timeout: 20) { s in
            if Self.meter(s) == 0 { quietSince = quietSince ?? Date() } else { quietSince = nil }
            return quietSince.map { Date().timeIntervalSince($0) >= 1 } ?? false
        }
        pty.send("Space")

        let written = pty.waitFor("the dictated line", timeout: 30) { $0.lowercased().contains("dictated › what time is it") }
        XCTAssertFalse(written.contains("you › "), "no conversation turn: \(written)")
        let file = try String(contentsOfFile: pty.path("dictated.txt"), encoding: .utf8)
        XCTAssertTrue(file.lowercased().contains("what time is it"), "flushed per utterance, before quitting: \(file)")
        XCTAssertEqual(file.split(separator: "\n").count, 1, file)

        // No reply: give a (wrongly started) turn time to show, then back to a conversation mode.
        sleep(2)
        pty.press("Tab", until: "confab · hands-free ·")
        let back = pty.waitFor("hands-free's keys") { $0.contains("just talk · Tab mode") }
        XCTAssertFalse(back.contains("confab › "), "no reply to dictated words: \(back)")
        XCTAssertFalse(back.contains("you › "), "dictated words are not a turn: \(back)")
        XCTAssertFalse(back.contains("last turn:"), back)
        XCTAssertTrue(back.lowercased().contains("dictated › what time is it"), "the dictated line stays on screen: \(back)")

        pty.send("q")
        XCTAssertEqual(pty.waitForExit(), "0")
        pty.assertTerminalSane()
        XCTAssertEqual(pty.played().filter { abs($0) > 0.01 }.count, 0, "nothing was spoken")
        let turns = (try? String(contentsOfFile: pty.path("turns.jsonl"), encoding: .utf8)) ?? ""
        XCTAssertFalse(turns.lowercased().contains("what time"), "no turn in the session log: \(turns)")
    }

    func testHandsFreeDictationWritesEachUtteranceWithItsWordsSoFarAndNoReply() throws {
        // The microphone: 6 s of silence (capture starts once the models are loaded), a long sentence, a pause longer
        // than the hangover, a short question, then silence.
        let first = try spokenByPiper("Please remember to buy milk, eggs, bread and coffee on the way home tonight.")
        XCTAssertGreaterThan(first.count, 3 * 16000)
        let second = try AudioFile.readMono(PseudoTerminal.speechFixture("what_time.wav"), sampleRate: 16000)
        let mic = [Float](repeating: 0, count: 6 * 16000) + first + [Float](repeating: 0, count: 2 * 16000) + second
            + [Float](repeating: 0, count: 25 * 16000)
        try pty.writeDevices(mic: mic, speaker: true)
        pty.start(["--capture-device", "mic", "--playback-device", "spk", "--mode", "hands-free-dictation",
                   "--dictation-output", "dictated.txt", "--session-log", "turns.jsonl"], cols: 160)

        // The mode is named in the header, on the key line and in the ready line.
        let ready = pty.waitFor("the models to load", timeout: 120) { $0.contains("· ready in ") }
        XCTAssertTrue(ready.contains("confab · hands-free dictation ·"), ready)
        XCTAssertTrue(ready.contains("just dictate (a pause ends each utterance) · Tab mode"), ready)
        XCTAssertTrue(ready.contains("hands-free dictation: just talk"), ready)
        XCTAssertTrue(ready.contains("listening"), ready)

        // While the sentence is spoken: its words so far, provisionally, before any dictated line.
        let partial = pty.waitFor("the words so far", timeout: 60) { $0.contains("dictating ‥ ") }
        XCTAssertFalse(partial.contains("dictated › "), "the text came before the words so far: \(partial)")
        XCTAssertTrue(partial.contains(" …"), partial)
        XCTAssertTrue(partial.lowercased().contains("dictating ‥ please"), partial)
        // The sentence's text replaces them (no key pressed: the pause ended it).
        let firstDone = pty.waitFor("the first dictated line", timeout: 60) { $0.lowercased().contains("dictated › please remember") }
        XCTAssertFalse(firstDone.lowercased().contains("dictating ‥ please"), "the words so far stayed beside the text: \(firstDone)")
        // Then the question, as a second line; never answered.
        let both = pty.waitFor("the second dictated line", timeout: 60) { $0.lowercased().contains("dictated › what time is it") }
        XCTAssertFalse(both.contains("you › "), "dictated words are not a turn: \(both)")
        sleep(2)                           // time for a (wrongly started) reply to show
        let after = pty.screen()
        XCTAssertFalse(after.contains("confab › "), "no reply to dictated words: \(after)")
        XCTAssertFalse(after.contains("last turn:"), after)
        XCTAssertFalse(after.contains("dictating ‥ "), after)

        let lines = try String(contentsOfFile: pty.path("dictated.txt"), encoding: .utf8).lowercased().split(separator: "\n")
        XCTAssertEqual(lines.count, 2, "\(lines)")
        XCTAssertTrue(lines.first?.contains("please remember to buy milk") ?? false, "\(lines)")
        XCTAssertTrue(lines.last?.contains("what time is it") ?? false, "\(lines)")

        pty.send("q")
        XCTAssertEqual(pty.waitForExit(), "0")
        pty.assertTerminalSane()
        XCTAssertEqual(pty.played().filter { abs($0) > 0.01 }.count, 0, "nothing was spoken")
        let turns = (try? String(contentsOfFile: pty.path("turns.jsonl"), encoding: .utf8)) ?? ""
        XCTAssertEqual(turns, "", "no turn in the session log")
    }

    func testHelpListsTheModesAndKeysWithDefaults() throws {
        try pty.writeDevices(mic: nil, speaker: false)
        pty.start(["talk", "--help"], cols: 200, rows: 120)
        XCTAssertEqual(pty.waitForExit(), "0")
        let help = pty.screen()
        for s in ["hands-free", "push-to-talk", "typed", "dictation", "hands-free-dictation", "--dictation-output", "Space", "Tab",
                  "q, Ctrl-C", "--mode hands-free", "--hangover 0.5", "partials on", "dictating ‥"] {
            XCTAssertTrue(help.contains(s), "help mentions \(s): \(help)")
        }
    }
}
