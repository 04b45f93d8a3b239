import AudioIO
import Engine
import Foundation
import XCTest

/// Live listening in `confab` (talk) in a real pseudo-terminal (tmux), with ALSA file-plugin devices paced in real
/// time and the real default models (they must be installed: these tests fail, never skip): the words so far on
/// screen while the question is spoken, replaced by the final transcript, and the wake phrase's states.
final class LiveListeningScreenTests: XCTestCase {
    var pty: PseudoTerminal!

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: PseudoTerminal.binary), "confab not built next to the tests")
        pty = try PseudoTerminal("live")
    }
    override func tearDown() { pty.close() }

    func testWordsSoFarAreShownProvisionallyThenReplacedAndTheWakeStatesAreShown() throws {
        // The microphone: 6 s of silence (the models load meanwhile; capture starts once they are ready, and the
        // file plugin keeps reading), a long question that starts with the phrase, then silence.
        let question = try spokenByPiper("Hey Confab, what is the capital of France, and what is the capital of Japan?")
        XCTAssertGreaterThan(question.count, 3 * 16000)
        let silence = [Float](repeating: 0, count: 16000)
        var mic: [Float] = []
        for _ in 0..<6 { mic += silence }
        mic += question
        for _ in 0..<40 { mic += silence }
        try pty.writeDevices(mic: mic, speaker: true)
        pty.start(["--capture-device", "mic", "--playback-device", "spk", "--wake", "hey confab", "--follow-up", "30"])

        let ready = pty.waitFor("the models to load and the phrase to be asked for", timeout: 180) {
            $0.contains("ready in") && $0.contains("say “hey confab”")
        }
        XCTAssertTrue(ready.contains("listening"), ready)
        // While the question is spoken: provisional words ("you ‥ … …"), before any final transcript.
        let partial = pty.waitFor("provisional words", timeout: 60) { $0.contains("you ‥ ") }
        XCTAssertFalse(partial.contains("you › "), "the final transcript came before the words so far: \(partial)")
        XCTAssertTrue(partial.contains(" …"), partial)
        // Then the final transcript, without the phrase, in place of them; the reply; the follow-up window.
        let final = pty.waitFor("the final transcript", timeout: 60) { $0.contains("you › ") }
        XCTAssertFalse(final.contains("you ‥ "), "the provisional words stayed beside the final transcript: \(final)")
        XCTAssertTrue(final.lowercased().contains("you › what is the capital of france"), final)
        let followUp = pty.waitFor("the follow-up window", timeout: 180) {
            $0.contains("confab › ") && $0.contains("listening for a follow-up")
        }
        XCTAssertFalse(followUp.lowercased().contains("you › hey"), followUp)
        pty.send("q")
        XCTAssertEqual(pty.waitForExit(), "0")
        pty.assertTerminalSane()
    }
}
