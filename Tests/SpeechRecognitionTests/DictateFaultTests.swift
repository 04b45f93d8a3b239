import AudioIO
import ConfabTestSupport
import Engine
import Foundation
import XCTest

/// `confab dictate` when things go wrong, for real: a capture device that stops working mid-dictation (an ALSA `file`
/// plugin whose copy of the audio goes into a pipe that closes), an output file on a full disk (/dev/full), and
/// SIGINT/SIGTERM/SIGHUP while loading, listening and writing down. Each time: one line naming the device or file
/// and the problem, every word said before it written down, and an exit status that says what happened.
final class DictateFaultTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try Fixtures.tempDir("dictate-faults") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func normalized(_ s: String) -> String {
        s.lowercased().unicodeScalars.filter { CharacterSet.letters.contains($0) || $0 == " " || $0 == "\n" }.map(String.init).joined()
    }

    func speech(_ name: String) throws -> [Float] { try AudioFile.readMono(try Fixtures.url(name).path, sampleRate: 16000) }
    func silence(_ seconds: Double) -> [Float] { [Float](repeating: 0, count: Int(seconds * 16000)) }

    /// A capture device `mic` reading `samples` (then silence) whose copy of what it captured goes to `tee`
    /// (the file plugin writes it as it reads: a pipe that closes makes the device fail with an I/O error).
    func captureDevice(_ samples: [Float], tee: String = "/dev/null") throws {
        let raw = dir.appendingPathComponent("mic.raw")
        var pcm = Data(capacity: samples.count * 2)
        for s in samples { var v = Int16(max(-1, min(1, s)) * 32767).littleEndian; withUnsafeBytes(of: &v) { pcm.append(contentsOf: $0) } }
        try pcm.write(to: raw)
        try """
        pcm.mic_raw { type file; slave.pcm "null"; file "\(tee)"; infile "\(raw.path)"; format "raw" }
        pcm.mic { type plug; slave { pcm "mic_raw"; format S16_LE; rate 16000; channels 1 } }
        """.write(to: dir.appendingPathComponent(".asoundrc"), atomically: true, encoding: .utf8)
    }

    func confab(_ args: [String]) throws -> RunningConfab { try RunningConfab(args, in: dir, setting: ["HOME": dir.path]) }

    func testACaptureDeviceThatStopsWorkingEndsTheDictationWithEverythingSaidWrittenDown() throws {
        let a = try speech("what_time.wav"), b = try speech("lights_kitchen.wav")
        let said = silence(1.2) + a + silence(1.2) + b + silence(1.2)
        // The device's copy of the audio goes to a command that reads as much as was said, then exits: the next
        // writes into its pipe fail (once the pipe's buffer is full), a second or two after the last words.
        try captureDevice(said, tee: "| head -c \(said.count * 2) > /dev/null")
        let out = dir.appendingPathComponent("dictated.txt").path
        let run = try confab(["dictate", "--capture-device", "mic", "-o", out])
        let status = run.exitStatus(timeout: 60)
        XCTAssertEqual(status, 1, "a dictation cut short by its device is not a success: \(run.err)")
        let lines = normalized((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n")
        XCTAssertEqual(lines.count, 2, "both utterances written down: \(lines); stderr: \(run.err)")
        XCTAssertTrue(lines.first?.contains("what time is it") ?? false, "\(lines)")
        XCTAssertTrue(lines.last?.contains("kitchen") ?? false, "\(lines)")
        let said1 = run.err.split(separator: "\n").filter { $0.contains("capture device") }
        XCTAssertEqual(said1, ["confab: ALSA capture device 'mic' stopped working (Input/output error): was it unplugged? run `confab devices`: the dictation ends (what was said is written down)"], run.err)
    }

    func testAnOutputOnAFullDiskIsSaidOnceAndDoesNotCrash() throws {
        let wav = dir.appendingPathComponent("two.wav").path
        try AudioFile.write(wav, samples: silence(1) + (try speech("what_time.wav")) + silence(1.2) + (try speech("lights_kitchen.wav")) + silence(1),
                            sampleRate: 16000)
        let r = try ConfabProcess.run(["dictate", "--input", wav, "-o", "/dev/full"])
        XCTAssertEqual(r.status, 1, r.err)
        XCTAssertEqual(r.err.split(separator: "\n").map(String.init),
                       ["confab: /dev/full: cannot write the dictation (No space left on device): the output is off from here on"], r.err)
    }

    /// A signal while the model loads ends the process at once; while listening, it ends the dictation cleanly; while
    /// the words are coming, they are written down first. The exit status is the shell's for the signal.
    func testSignalsWhileLoadingListeningAndSpeakingStopCleanlyKeepingTheWords() throws {
        // A long sentence (its words so far come while it is spoken), after 2 s of silence.
        let tts = try PiperSynthesizer(voice: "en_US-joe-medium")
        tts.options.seed = 3
        var sentence: [Float] = []
        try tts.synthesize(try tts.voice.phonemize("Please remember to buy milk, eggs, bread and coffee on the way home tonight.")) {
            sentence += $0; return true
        }
        sentence = Resampler.resample(sentence, from: tts.sampleRate, to: 16000)
        try captureDevice(silence(2) + sentence + silence(30))
        for (sig, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP")] {
            // Loading: the first moment the process runs (loading the model takes far longer than starting up).
            let loading = try confab(["dictate", "--capture-device", "mic", "--json"])
            XCTAssertTrue(loading.waitUntilSignalsAreHandled(), loading.err)
            loading.signal(sig)
            XCTAssertEqual(loading.exitStatus(timeout: 10), 128 + sig, loading.err)
            XCTAssertTrue(loading.err.hasSuffix("confab: stopped by \(name) while loading the model\n"), loading.err)
        }

        // Listening, before anything is said (the first 2 s are silence; the device is paced in real time): nothing out.
        let listening = try confab(["dictate", "--capture-device", "mic", "--json", "--seconds", "60"])
        XCTAssertTrue(listening.wait(timeout: 60) { dictationStarted(listening) }, "the device never opened: \(listening.err)")
        listening.signal(SIGHUP)
        XCTAssertEqual(listening.exitStatus(timeout: 15), 128 + SIGHUP, listening.err)
        XCTAssertEqual(listening.out, "")
        XCTAssertTrue(listening.err.hasSuffix("confab: stopped by SIGHUP\n"), listening.err)

        // While the words come (their first partial transcript): the utterance so far is still written down.
        let speaking = try confab(["dictate", "--capture-device", "mic", "--json"])
        XCTAssertTrue(speaking.wait(timeout: 60) { speaking.out.contains("{\"partial\"") }, "no partial transcript: \(speaking.err)")
        speaking.signal(SIGTERM)
        XCTAssertEqual(speaking.exitStatus(timeout: 15), 128 + SIGTERM, speaking.err)
        let texts = speaking.out.split(separator: "\n").filter { $0.hasPrefix("{\"text\"") }
        XCTAssertEqual(texts.count, 1, "the words said before the signal: \(speaking.out)")
        XCTAssertTrue(normalized(String(texts.first ?? "")).contains("please"), speaking.out)
        XCTAssertTrue(speaking.err.hasSuffix("confab: stopped by SIGTERM\n"), speaking.err)
    }

    /// The model is loaded once the capture device has been opened: the file plugin has read its `infile`.
    func dictationStarted(_ run: RunningConfab) -> Bool {
        // `dictate` says nothing when it starts; the device opening shows as the process holding mic.raw open.
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(run.process.processIdentifier)/fd")) ?? []
        return fds.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(run.process.processIdentifier)/fd/\($0)"))?.hasSuffix("mic.raw") ?? false }
    }
}
