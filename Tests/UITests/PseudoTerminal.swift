import AudioIO
import Engine
import Foundation
import XCTest

/// One confab command on screen in a real pseudo-terminal: its own tmux server (socket per test), a
/// temporary HOME holding an `.asoundrc` with ALSA file-plugin devices, and `stty -a` captured before
/// and after the command so a test can check the terminal was given back as it was.
final class PseudoTerminal {
    let dir: URL
    let socket: String
    private(set) var started = false

    init(_ tag: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("confab-ui-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        socket = "confab-\(tag)-\(getpid())"
    }

    /// Kills the tmux server and removes the folder.
    func close() {
        if started { tmux(["kill-server"]); usleep(100_000) }
        try? FileManager.default.removeItem(at: dir)
    }

    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("confab").path
    }

    /// Tests/SpeechRecognitionTests/Fixtures/… (the spoken questions live there).
    static func speechFixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SpeechRecognitionTests/Fixtures/\(name)").path
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// A microphone device `mic` that reads `samples` (16 kHz mono; silence after them) and, if `speaker`,
    /// a playback device `spk` that writes what is played to `speaker.raw` (S16_LE, 16 kHz, mono: `played()`).
    /// `micTee` gets the microphone's copy of what it captured (a pipe that closes makes it fail); `speakerFile`, if
    /// given, replaces `speaker.raw` (/dev/full: a speaker that fails), at the rate Confab opens it with (alsa-lib's
    /// rate converter would hide the file's write errors).
    func writeDevices(mic samples: [Float]?, speaker: Bool, micTee: String = "/dev/null", speakerFile: String? = nil) throws {
        var conf = ""
        if let samples {
            var pcm = Data(capacity: samples.count * 2)
            for s in samples { var v = Int16(max(-1, min(1, s)) * 32767).littleEndian; withUnsafeBytes(of: &v) { pcm.append(contentsOf: $0) } }
            try pcm.write(to: URL(fileURLWithPath: path("mic.raw")))
            conf += """
            pcm.mic_raw { type file; slave.pcm "null"; file "\(micTee)"; infile "\(path("mic.raw"))"; format "raw" }
            pcm.mic { type plug; slave { pcm "mic_raw"; format S16_LE; rate 16000; channels 1 } }

            """
        }
        if speaker {
            // Raw, not WAV: the file plugin completes a WAV header only when the PCM is closed, which a
            // process that exits (or is killed) with the device open never does.
            conf += """
            pcm.spk_raw { type file; slave.pcm "null"; file "\(speakerFile ?? path("speaker.raw"))"; format "raw" }
            pcm.spk { type plug; slave { pcm "spk_raw"; format S16_LE; \(speakerFile == nil ? "rate 16000; " : "")channels 1 } }

            """
        }
        try conf.write(toFile: path(".asoundrc"), atomically: true, encoding: .utf8)
    }

    /// Starts `confab ARGS` in a `cols`×`rows` window, in the test folder with HOME pointing at it.
    /// Afterwards the shell records the exit status and `stty -a`, then waits (so the pane stays).
    func start(_ args: [String], env: [String: String] = [:], cols: Int = 100, rows: Int = 24) {
        let d = dir.path
        let vars = (["HOME": d, "CONFAB_MODELS": ModelPaths.root] .merging(env) { $1 })
            .map { "\($0.key)=\(Self.quote($0.value))" }.sorted().joined(separator: " ")
        let command = ([Self.binary] + args).map(Self.quote).joined(separator: " ")
        let script = "cd \(Self.quote(d)); stty -a > stty-before; \(vars) \(command); echo $? > exit-status; stty -a > stty-after; sleep 120"
        tmux(["new-session", "-d", "-s", "t", "-x", "\(cols)", "-y", "\(rows)", script])
        started = true
    }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Runs a tmux command on this test's server through system(3), output read from a file: the server
    /// that `new-session` starts outlives the call and keeps inherited descriptors open, which Foundation's
    /// Process would wait for.
    @discardableResult
    func tmux(_ args: [String]) -> String {
        let out = path("tmux-out")
        let command = (["tmux", "-L", socket] + args).map(Self.quote).joined(separator: " ") + " </dev/null >\(Self.quote(out)) 2>/dev/null"
        _ = system(command)
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    /// A shell command's standard output (through system(3), for the same reason as `tmux`).
    func run(_ command: String) -> String {
        let out = path("run-out")
        _ = system(command + " </dev/null >\(Self.quote(out)) 2>/dev/null")
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    /// What the `spk` device played.
    func played() -> [Float] {
        guard let raw = try? Data(contentsOf: URL(fileURLWithPath: path("speaker.raw"))) else { return [] }
        return raw.withUnsafeBytes { b in b.bindMemory(to: Int16.self).map { Float(Int16(littleEndian: $0)) / 32768 } }
    }

    func screen() -> String { tmux(["capture-pane", "-t", "t", "-p"]) }

    func send(_ keys: String...) { tmux(["send-keys", "-t", "t"] + keys) }
    /// Types text literally (no key names).
    func type(_ text: String) { tmux(["send-keys", "-t", "t", "-l", text]) }

    func resize(cols: Int, rows: Int) { tmux(["resize-window", "-t", "t", "-x", "\(cols)", "-y", "\(rows)"]) }

    /// Polls the screen until `check` holds; fails the test with the last screen on timeout.
    @discardableResult
    func waitFor(_ what: String, timeout: Double = 60, file: StaticString = #filePath, line: UInt = #line,
                 _ check: (String) -> Bool) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            last = screen()
            if check(last) { return last }
            usleep(200_000)
        }
        XCTFail("timed out after \(Int(timeout)) s waiting for \(what); screen:\n\(last)", file: file, line: line)
        return last
    }

    /// Presses a key until the screen shows `what` (a key typed while curses is still setting up the
    /// terminal can be lost, as in any curses program).
    func press(_ key: String, until what: String, file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<10 {
            send(key)
            usleep(500_000)
            if screen().contains(what) { return }
        }
        XCTFail("pressing \(key) never showed \(what); screen:\n\(screen())", file: file, line: line)
    }

    /// Waits for the command to end; returns its exit status.
    func waitForExit(timeout: Double = 30, file: StaticString = #filePath, line: UInt = #line) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while !FileManager.default.fileExists(atPath: path("stty-after")) && Date() < deadline { usleep(100_000) }
        usleep(200_000)
        guard let s = try? String(contentsOfFile: path("exit-status"), encoding: .utf8) else {
            XCTFail("the command did not exit within \(Int(timeout)) s; screen:\n\(screen())", file: file, line: line)
            return nil
        }
        return s.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The terminal's modes after the command equal those before it.
    func assertTerminalSane(file: StaticString = #filePath, line: UInt = #line) {
        let before = try? String(contentsOfFile: path("stty-before"), encoding: .utf8)
        let after = try? String(contentsOfFile: path("stty-after"), encoding: .utf8)
        XCTAssertNotNil(before, file: file, line: line)
        XCTAssertEqual(after, before, "terminal modes changed", file: file, line: line)
    }

    /// Every line of the screen fits `cols` cells and there are at most `rows` lines.
    func assertFits(_ screen: String, cols: Int, rows: Int, file: StaticString = #filePath, line: UInt = #line) {
        let lines = screen.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertLessThanOrEqual(lines.count, rows + 1, file: file, line: line)
        for l in lines { XCTAssertLessThanOrEqual(l.count, cols, "line wider than the window: \(l)", file: file, line: line) }
    }
}

/// The model store the tests use: the user's, as the commands would (CI installs the default models there).
enum ModelPaths {
    static var root: String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["CONFAB_MODELS"], !d.isEmpty { return d }
        let data = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.local/share")
        return data + "/confab/models"
    }
}

/// A spoken question as the microphone hears it: a second of silence, the words, then silence.
func spokenQuestion(_ fixture: String, after lead: Double = 1, trailing: Double = 20) throws -> [Float] {
    let speech = try AudioFile.readMono(PseudoTerminal.speechFixture(fixture), sampleRate: 16000)
    return [Float](repeating: 0, count: Int(lead * 16000)) + speech + [Float](repeating: 0, count: Int(trailing * 16000))
}

/// `text` as the default Piper voice says it, at 16 kHz.
func spokenByPiper(_ text: String) throws -> [Float] {
    let tts = try PiperSynthesizer(voice: "en_US-joe-medium")
    tts.options.seed = 3
    var speech: [Float] = []
    try tts.synthesize(try tts.voice.phonemize(text)) { speech += $0; return true }
    return Resampler.resample(speech, from: tts.sampleRate, to: 16000)
}
