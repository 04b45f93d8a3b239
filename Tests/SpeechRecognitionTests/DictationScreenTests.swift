import AudioIO
import Foundation
import XCTest

/// The dictation screen in a real pseudo-terminal (tmux), with a file-plugin capture device as the
/// microphone: the words appear on screen and in the output file, the layout survives a resize to
/// 40×12 and back, and quitting leaves the terminal exactly as it was (`stty -a` unchanged).
final class DictationScreenTests: XCTestCase {
    var dir: URL!
    var socket = ""

    override func setUpWithError() throws {
        dir = try Fixtures.tempDir("tui")
        socket = "confab-test-\(getpid())"
    }

    override func tearDownWithError() throws {
        _ = try? tmux(["kill-server"])
        usleep(100_000)
        try? FileManager.default.removeItem(at: dir)
    }

    /// Runs a tmux command on the test's own server through system(3), with output read from a file:
    /// the server that `new-session` starts outlives the call and keeps inherited descriptors open, which
    /// Foundation's Process would wait for.
    @discardableResult
    func tmux(_ args: [String]) throws -> String {
        let outPath = dir.appendingPathComponent("tmux-out").path
        func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let command = (["tmux", "-L", socket] + args).map(quote).joined(separator: " ") + " </dev/null >\(quote(outPath)) 2>/dev/null"
        _ = system(command)
        return (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    }

    func screen() throws -> String { try tmux(["capture-pane", "-t", "t", "-p"]) }

    func waitFor(_ what: String, timeout: Double = 60, _ check: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            last = try screen()
            if check(last) { return last }
            usleep(200_000)
        }
        XCTFail("timed out waiting for \(what); screen:\n\(last)")
        return last
    }

    func testDictationOnScreenResizeAndQuitLeaveTheTerminalSane() throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("confab")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary.path), "confab not built next to the tests")
        // Microphone: 6 s of silence, the question, then silence (ALSA's file plugin repeats nothing past the end).
        let speech = try AudioFile.readMono(try Fixtures.url("what_time.wav").path, sampleRate: 16000)
        let samples = [Float](repeating: 0, count: 96_000) + speech + [Float](repeating: 0, count: 16_000 * 20)
        var pcm = Data(capacity: samples.count * 2)
        for s in samples { var v = Int16(max(-1, min(1, s)) * 32767).littleEndian; withUnsafeBytes(of: &v) { pcm.append(contentsOf: $0) } }
        let raw = dir.appendingPathComponent("mic.raw")
        try pcm.write(to: raw)
        try """
        pcm.mic_raw { type file; slave.pcm "null"; file "/dev/null"; infile "\(raw.path)"; format "raw" }
        pcm.mic { type plug; slave { pcm "mic_raw"; format S16_LE; rate 16000; channels 1 } }
        """.write(to: dir.appendingPathComponent(".asoundrc"), atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("dictation.txt").path
        let d = dir.path
        let script = "cd \(d); stty -a > \(d)/stty-before; HOME=\(d) \(binary.path) dictate --capture-device mic -o \(out); "
            + "echo $? > \(d)/exit-status; stty -a > \(d)/stty-after; sleep 60"
        try tmux(["new-session", "-d", "-s", "t", "-x", "100", "-y", "24", script])

        _ = try waitFor("the dictation screen") { $0.contains("confab dictate") && $0.contains("q quit") }
        // Hands-free: the detector cuts utterances. (A key typed while the terminal is still being set up
        // can be lost, as in any curses program, so press again until the mode changes.)
        for _ in 0..<10 {
            try tmux(["send-keys", "-t", "t", "Tab"])
            usleep(500_000)
            if try screen().contains("hands-free") { break }
        }
        let shown = try waitFor("the transcript") { $0.lowercased().contains("what time is it") }
        XCTAssertTrue(shown.contains("you › "), shown)

        try tmux(["resize-window", "-t", "t", "-x", "40", "-y", "12"])
        let small = try waitFor("the 40-column layout") { s in
            s.split(separator: "\n").count <= 12 && s.contains("dictate") && s.lowercased().contains("what time")
        }
        for line in small.split(separator: "\n") { XCTAssertLessThanOrEqual(line.count, 40, "line wider than the window: \(line)") }
        try tmux(["resize-window", "-t", "t", "-x", "100", "-y", "24"])
        _ = try waitFor("the full layout again") { $0.contains("PgUp/PgDn scroll · q quit") }

        try tmux(["send-keys", "-t", "t", "q"])
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: d + "/stty-after") && Date() < deadline { usleep(100_000) }
        usleep(200_000)
        XCTAssertEqual(try String(contentsOfFile: d + "/exit-status", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), "0")
        XCTAssertEqual(try String(contentsOfFile: d + "/stty-after", encoding: .utf8),
                       try String(contentsOfFile: d + "/stty-before", encoding: .utf8), "terminal modes changed")
        XCTAssertTrue(try String(contentsOfFile: out, encoding: .utf8).lowercased().contains("what time is it"))
    }
}
