import AudioIO
import Foundation
import XCTest

/// The dictation screen in a real pseudo-terminal with a file-plugin capture device as the microphone:
/// the words appear on screen and in the output file, the layout survives a resize to 40×12 and back,
/// and quitting leaves the terminal exactly as it was (`stty -a` unchanged). Uses the real tiny.en model.
final class DictationScreenTests: XCTestCase {
    var pty: PseudoTerminal!

    override func setUpWithError() throws { pty = try PseudoTerminal("dictate") }
    override func tearDown() { pty.close() }

    func testDictationOnScreenWritesTheFileSurvivesResizeAndQuitLeavesTheTerminalSane() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: PseudoTerminal.binary), "confab not built next to the tests")
        // Dictate opens the capture device before its screen: 6 s of silence cover the model load.
        try pty.writeDevices(mic: try spokenQuestion("what_time.wav", after: 6), speaker: false)
        pty.start(["dictate", "--capture-device", "mic", "-o", "dictation.txt"])

        pty.waitFor("the dictation screen") { $0.contains("confab dictate") && $0.contains("q quit") }
        pty.press("Tab", until: "hands-free")
        let shown = pty.waitFor("the transcript") { $0.lowercased().contains("what time is it") }
        XCTAssertTrue(shown.contains("you › "), shown)

        pty.resize(cols: 40, rows: 12)
        let small = pty.waitFor("the 40-column layout") { s in
            s.split(separator: "\n").count <= 12 && s.contains("dictate") && s.lowercased().contains("what time")
        }
        pty.assertFits(small, cols: 40, rows: 12)
        pty.resize(cols: 100, rows: 24)
        pty.waitFor("the full layout again") { $0.contains("PgUp/PgDn scroll · q quit") }

        pty.send("q")
        XCTAssertEqual(pty.waitForExit(), "0")
        pty.assertTerminalSane()
        XCTAssertTrue(try String(contentsOfFile: pty.path("dictation.txt"), encoding: .utf8).lowercased().contains("what time is it"))
    }

    func testHandsFreeDictationShowsTheWordsSoFarThenReplacesThemWithTheText() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: PseudoTerminal.binary), "confab not built next to the tests")
        let sentence = try spokenByPiper("Please remember to buy milk, eggs, bread and coffee on the way home tonight.")
        let mic = [Float](repeating: 0, count: 6 * 16000) + sentence + [Float](repeating: 0, count: 20 * 16000)
        try pty.writeDevices(mic: mic, speaker: false)
        pty.start(["dictate", "--capture-device", "mic", "-o", "dictation.txt"])

        pty.waitFor("the dictation screen") { $0.contains("confab dictate") && $0.contains("q quit") }
        pty.press("Tab", until: "just talk · Tab push-to-talk")
        let partial = pty.waitFor("the words so far", timeout: 60) { $0.contains("you ‥ ") }
        XCTAssertFalse(partial.contains("you › "), "the text came before the words so far: \(partial)")
        XCTAssertTrue(partial.contains(" …"), partial)
        let done = pty.waitFor("the text", timeout: 60) { $0.lowercased().contains("you › please remember") }
        XCTAssertFalse(done.contains("you ‥ "), "the words so far stayed beside the text: \(done)")
        pty.send("q")
        XCTAssertEqual(pty.waitForExit(), "0")
        pty.assertTerminalSane()
        let file = try String(contentsOfFile: pty.path("dictation.txt"), encoding: .utf8)
        XCTAssertEqual(file.split(separator: "\n").count, 1, "only the final text is written: \(file)")
        XCTAssertTrue(file.lowercased().contains("please remember to buy milk"), file)
    }
}
