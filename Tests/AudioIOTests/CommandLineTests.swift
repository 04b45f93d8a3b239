import XCTest
@testable import AudioIO
import Engine

/// `confab devices | play | record` run as a user would: the built binary, with HOME pointing at a
/// folder whose ~/.asoundrc makes file-plugin devices stand in for the sound card.
final class CommandLineTests: XCTestCase {
    var home: URL!
    var infile: URL!
    var outfile: URL!
    let input = testSignal16(count: 12_000)      // 0.75 s at 16 kHz

    override func setUpWithError() throws {
        home = try makeTempDir(self)
        infile = home.appendingPathComponent("mic.raw")
        outfile = home.appendingPathComponent("speaker.wav")
        try writeRaw16(input, to: infile)
        try testALSAConfig(infile: infile, outfile: outfile, inline: false)
            .write(to: home.appendingPathComponent(".asoundrc"), atomically: true, encoding: .utf8)
    }

    /// The `confab` binary built beside this test bundle.
    func confabBinary() throws -> URL {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["CONFAB_BIN"] { candidates.append(URL(fileURLWithPath: env)) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("confab"))
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("confab"))
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("confab"))
        guard let bin = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw MissingBinary("confab binary not found next to the tests (looked at \(candidates.map(\.path))); build it with `swift build -c release`")
        }
        return bin
    }
    struct MissingBinary: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    /// Runs confab with HOME set (so ALSA reads the test's ~/.asoundrc), stdin from `stdin` (default: nothing).
    func confab(_ args: [String], home: URL? = nil, stdin: Data? = nil, unsetting: [String] = [],
                setting: [String: String] = [:], whileRunning: ((Process) -> Void)? = nil) throws -> Run {
        let p = Process()
        p.executableURL = try confabBinary()
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for k in unsetting { env.removeValue(forKey: k) }
        env.merge(setting) { _, new in new }
        env["HOME"] = (home ?? self.home).path
        env.removeValue(forKey: "ALSA_CONFIG_PATH")
        p.environment = env
        p.currentDirectoryURL = self.home
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        let inPipe = Pipe()
        p.standardInput = stdin == nil && whileRunning == nil ? FileHandle.nullDevice : inPipe
        try p.run()
        // Read both pipes concurrently so a chatty child never blocks.
        let outData = ReadBox(out.fileHandleForReading), errData = ReadBox(err.fileHandleForReading)
        if let stdin {
            inPipe.fileHandleForWriting.write(stdin)
            try inPipe.fileHandleForWriting.close()
        }
        whileRunning?(p)
        p.waitUntilExit()
        if stdin == nil && whileRunning != nil { try? inPipe.fileHandleForWriting.close() }
        return Run(status: p.terminationStatus, stdout: outData.text(), stderr: errData.text())
    }

    final class ReadBox: @unchecked Sendable {
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)
        init(_ h: FileHandle) {
            Thread { self.data = h.readDataToEndOfFile(); self.done.signal() }.start()
        }
        func text() -> String { done.wait(); return String(decoding: data, as: UTF8.self) }
    }

    // MARK: devices

    func testDevicesListsPCMsAndCards() throws {
        let r = try confab(["devices"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("Playback devices (aplay -L):"), r.stdout)
        XCTAssertTrue(r.stdout.contains("Capture devices (arecord -L):"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\n  speaker\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\n  mic\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("Sound cards:"), r.stdout)
        // Same names as `aplay -L` prints.
        let aplay = Process()
        aplay.executableURL = URL(fileURLWithPath: "/usr/bin/aplay")
        aplay.arguments = ["-L"]
        aplay.environment = ["HOME": home.path]
        let pipe = Pipe()
        aplay.standardOutput = pipe; aplay.standardError = FileHandle.nullDevice
        try aplay.run(); aplay.waitUntilExit()
        let names = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n").filter { !$0.hasPrefix(" ") }.map(String.init)
        XCTAssertFalse(names.isEmpty)
        for n in names { XCTAssertTrue(r.stdout.contains("\n  \(n)\n"), "aplay -L lists \(n)") }
    }

    // MARK: play

    func testPlayWritesTheFileSampleForSample() throws {
        let wav = home.appendingPathComponent("clip.wav")
        let clip = testSignal16(count: 8820, seed: 7)          // 0.4 s at 22.05 kHz
        try writeWav16(clip, rate: 22050, to: wav)
        let r = try confab(["play", "-v", wav.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("playback: default FLOAT_LE 22050 Hz 1 ch, period 512 frames"), r.stderr)
        XCTAssertTrue(r.stderr.contains("xruns 0"), r.stderr)
        let (out, info) = try readWav16(outfile)
        XCTAssertEqual(info.sampleRate, 22050)
        XCTAssertGreaterThanOrEqual(out.count, clip.count)
        assertSameSamples(Array(out.prefix(clip.count)), clip, "played = file")
        XCTAssertTrue(out.dropFirst(clip.count).allSatisfy { $0 == 0 })
    }

    func testPlaySeveralFilesResamplesToTheDeviceRate() throws {
        let a = home.appendingPathComponent("a.wav"), b = home.appendingPathComponent("b.flac")
        let sa = testSignal16(count: 4000, seed: 1)
        let sb = (0..<11025).map { 0.4 * sinf(2 * .pi * 440 * Float($0) / 44100) }   // 0.25 s at 44.1 kHz, stereo
        try writeWav16(sa, rate: 16000, to: a)
        try AudioFile.write(b.path, samples: sb.flatMap { [$0, $0] }, sampleRate: 44100, channels: 2)
        let r = try confab(["play", a.path, b.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let (out, info) = try readWav16(outfile)
        XCTAssertEqual(info.sampleRate, 16000, "the device runs at the first file's rate")
        XCTAssertEqual(info.channels, 1)
        assertSameSamples(Array(out.prefix(sa.count)), sa, "first file")
        // The second: FLAC 16-bit, mixed to mono, resampled 44.1 → 16 kHz by Confab's resampler.
        let (bFile, _) = try AudioFile.readInterleaved(b.path)
        let expected = Resampler.resample((0..<11025).map { (bFile[2 * $0] + bFile[2 * $0 + 1]) / 2 }, from: 44100, to: 16000)
        XCTAssertEqual(expected.count, 4000)
        let got = out.dropFirst(sa.count).prefix(expected.count)
        XCTAssertEqual(got.count, expected.count)
        let worst = zip(got, expected).map { abs(Float($0) / 32768 - $1) }.max() ?? 1
        XCTAssertLessThanOrEqual(worst, 1.0 / 32768, "within one 16-bit step")
    }

    func testPlayReadsAWavFromStandardInput() throws {
        let wav = home.appendingPathComponent("piped.wav")
        let clip = testSignal16(count: 4000, seed: 9)
        try writeWav16(clip, rate: 16000, to: wav)
        let r = try confab(["play", "-"], stdin: try Data(contentsOf: wav))
        XCTAssertEqual(r.status, 0, r.stderr)
        let (out, _) = try readWav16(outfile)
        assertSameSamples(Array(out.prefix(clip.count)), clip, "played = piped file")
    }

    func testPlayStopsAtOnceOnSignals() throws {
        let wav = home.appendingPathComponent("long.wav")
        try AudioFile.write(wav.path, samples: (0..<(16000 * 20)).map { 0.3 * sinf(Float($0) * 0.05) }, sampleRate: 16000)
        for sig in [SIGINT, SIGTERM] {
            try? FileManager.default.removeItem(at: outfile)
            var sent: Date?
            let r = try confab(["play", wav.path]) { p in
                // Once sound is flowing, interrupt (a liveness bound, not a timing assertion).
                _ = waitUntil { ((try? FileManager.default.attributesOfItem(atPath: self.outfile.path)[.size] as? Int) ?? 0) > 20_000 }
                sent = Date()
                kill(p.processIdentifier, sig)
            }
            let took = Date().timeIntervalSince(sent ?? Date())
            print("play: exited \(String(format: "%.0f", took * 1000)) ms after signal \(sig)")
            XCTAssertEqual(r.status, 130, r.stderr)
            XCTAssertTrue(r.stderr.hasSuffix("stopped\n"), r.stderr)
            XCTAssertLessThan(took, 15, "did not play all 20 s")
        }
    }

    // MARK: record

    func testRecordForSecondsWritesTheCapturedSamples() throws {
        let wav = home.appendingPathComponent("rec.wav")
        let r = try confab(["record", "-o", wav.path, "--seconds", "0.5"])     // no standard input, as on CI
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("saved \(wav.path): 0.50 s at 16000 Hz"), r.stderr)
        let (got, info) = try readWav16(wav)
        XCTAssertEqual(info.sampleRate, 16000)
        XCTAssertEqual(info.channels, 1)
        XCTAssertEqual(got.count, 8000, "exactly --seconds of audio")
        assertSameSamples(got, Array(input.prefix(8000)), "recorded = microphone input")

        let flac = home.appendingPathComponent("rec.flac")
        let r2 = try confab(["record", "-o", flac.path, "--seconds", "0.25", "--rate", "16000"])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let (got2, _) = try readWav16(flac)
        assertSameSamples(got2, Array(input.prefix(4000)), "FLAC recording")
    }

    func testRecordStoppedBySignalLeavesAValidFile() throws {
        let wav = home.appendingPathComponent("sig.wav")
        // Standard input stays open (a pipe nobody writes): only the signal can stop it.
        let r = try confab(["record", "-o", wav.path]) { p in
            _ = waitUntil { ((try? AudioFile.readInterleaved(wav.path).info.frames) ?? 0) >= 3000 }
            kill(p.processIdentifier, SIGINT)
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        let (got, info) = try readWav16(wav)
        XCTAssertGreaterThanOrEqual(info.frames, 3000)
        XCTAssertTrue(r.stderr.contains("saved \(wav.path)"), r.stderr)
        let n = min(got.count, input.count)
        assertSameSamples(Array(got.prefix(n)), Array(input.prefix(n)), "valid and intact up to the stop")
    }

    func testRecordStopsOnEnter() throws {
        let wav = home.appendingPathComponent("enter.wav")
        let r = try confab(["record", "-o", wav.path], stdin: Data("\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNoThrow(try AudioFile.readInterleaved(wav.path))
    }

    // MARK: bad input: exit 1 and one line naming the thing and what to do

    func assertOneLineError(_ r: Run, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr, "confab: \(expected)\n", file: file, line: line)
    }

    func testBadFilesAndDevicesGiveOneLineErrors() throws {
        let good = home.appendingPathComponent("good.wav")
        try writeWav16(testSignal16(count: 1600), rate: 16000, to: good)
        let missing = home.appendingPathComponent("missing.wav").path
        assertOneLineError(try confab(["play", missing]), "\(missing): no such file: check the path")
        let empty = home.appendingPathComponent("empty.wav")
        try Data().write(to: empty)
        assertOneLineError(try confab(["play", empty.path]), "\(empty.path): is empty (0 bytes): not an audio file")
        let text = home.appendingPathComponent("readme.txt")
        try Data("hello\n".utf8).write(to: text)
        assertOneLineError(try confab(["play", text.path]),
                           "\(text.path): is not an audio file libsndfile can read (Format not recognised.): use WAV, FLAC, OGG or another format it reads")
        let cut = home.appendingPathComponent("cut.wav")
        try Data(contentsOf: good).prefix(44 + 320).write(to: cut)
        assertOneLineError(try confab(["play", cut.path]),
                           "\(cut.path): is truncated: its header promises 0.10 s of audio but the file holds 0.01 s; re-export or re-record it")
        assertOneLineError(try confab(["play", "-"], stdin: Data("not a wav".utf8)),
                           "standard input: is not a WAV libsndfile can read (Format not recognised.): pipe a WAV into `confab play -`")
        // A bad file is reported before any sound is made.
        XCTAssertFalse(FileManager.default.fileExists(atPath: outfile.path))

        assertOneLineError(try confab(["play", "--device", "nosuch", good.path]),
                           "unknown ALSA playback device 'nosuch': run `confab devices` to list devices, or pass --device NAME")
        assertOneLineError(try confab(["play", "--playback-device", "nosuch", good.path]),
                           "unknown ALSA playback device 'nosuch': run `confab devices` to list devices, or pass --device NAME")
        assertOneLineError(try confab(["record", "--capture-device", "nosuch", "-o", "x.wav", "--seconds", "1"]),
                           "unknown ALSA capture device 'nosuch': run `confab devices` to list devices, or pass --device NAME")
        let noDir = home.appendingPathComponent("no/such/dir/x.wav").path
        let r = try confab(["record", "-o", noDir, "--seconds", "1"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("confab: \(noDir): cannot be written ("), r.stderr)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1)

        // No ~/.asoundrc: `default` needs a sound card, which CI machines lack.
        let bare = try makeTempDir(self)
        let noCard = try confab(["play", good.path], home: bare)
        if ALSADevices.cards().isEmpty {
            assertOneLineError(noCard, "no sound card found (ALSA playback device 'default' cannot be opened): connect one, or pass --device with a PCM from `confab devices`")
            assertOneLineError(try confab(["record", "-o", "x.wav", "--seconds", "1"], home: bare),
                               "no sound card found (ALSA capture device 'default' cannot be opened): connect one, or pass --device with a PCM from `confab devices`")
        }

        let badSeconds = try confab(["record", "-o", "x.wav", "--seconds=-1"])
        XCTAssertNotEqual(badSeconds.status, 0)
        XCTAssertTrue(badSeconds.stderr.contains("--seconds must be more than 0"), badSeconds.stderr)
        let badPeriod = try confab(["play", "--period-frames", "4096", "--buffer-frames", "4096", good.path])
        XCTAssertNotEqual(badPeriod.status, 0)
        XCTAssertTrue(badPeriod.stderr.contains("--buffer-frames must be at least twice --period-frames"), badPeriod.stderr)
    }

    /// OpenBLAS's idle workers must not spin for 0.1 s after each call (it takes the CPU from the language model
    /// and the audio threads): confab sets OPENBLAS_THREAD_TIMEOUT for itself when the user has not.
    func testConfabSetsOpenBLASThreadTimeoutForItself() throws {
        var seen = ""
        _ = try confab(["play", "-"], unsetting: ["OPENBLAS_THREAD_TIMEOUT"]) { p in
            _ = waitUntil(10) {
                seen = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/environ", encoding: .utf8)) ?? ""
                return seen.contains("OPENBLAS_THREAD_TIMEOUT=")
            }
            kill(p.processIdentifier, SIGTERM)
        }
        XCTAssertTrue(seen.split(separator: "\0").contains("OPENBLAS_THREAD_TIMEOUT=4"), "environment: \(seen)")
    }

    /// An OpenBLAS older than the CPU picks its SSE3 "Prescott" kernels on a CPU with AVX-512 (Debian 12's 0.3.21 on
    /// Sapphire Rapids: Whisper's encoder 3.5× slower): confab then names the family that matches the CPU, and never
    /// when OpenBLAS already uses all the vector units there are, or when the user chose for Confab.
    func testConfabChoosesOpenBLASKernelsForTheCPU() throws {
        XCTAssertEqual(OpenBLASSettings.betterCoreType(chosen: "Prescott", cpuLevel: 2), "SkylakeX")
        XCTAssertEqual(OpenBLASSettings.betterCoreType(chosen: "Prescott", cpuLevel: 1), "Haswell")
        XCTAssertEqual(OpenBLASSettings.betterCoreType(chosen: "Haswell", cpuLevel: 2), "SkylakeX")
        XCTAssertNil(OpenBLASSettings.betterCoreType(chosen: "Zen", cpuLevel: 1))
        XCTAssertNil(OpenBLASSettings.betterCoreType(chosen: "Cooperlake", cpuLevel: 2))
        XCTAssertNil(OpenBLASSettings.betterCoreType(chosen: "Prescott", cpuLevel: 0))
        // A family set in the environment for every program is widened, never narrowed; a Confab-only choice wins.
        func coreType(_ env: [String: String], chosen: String, cpuLevel: Int = 2) -> [String] {
            OpenBLASSettings.missing(environment: env.merging(["OPENBLAS_THREAD_TIMEOUT": "4"]) { a, _ in a },
                                     chosen: chosen, cpuLevel: cpuLevel).map { "\($0.0)=\($0.1)" }
        }
        XCTAssertEqual(coreType(["OPENBLAS_CORETYPE": "Haswell"], chosen: "Haswell"), ["OPENBLAS_CORETYPE=SkylakeX"])
        XCTAssertEqual(coreType(["OPENBLAS_CORETYPE": "Haswell"], chosen: "Haswell", cpuLevel: 1), [])
        XCTAssertEqual(coreType(["OPENBLAS_CORETYPE": "Cooperlake"], chosen: "Cooperlake"), [])
        XCTAssertEqual(coreType(["OPENBLAS_CORETYPE": "SkylakeX"], chosen: "Prescott"), [], "an OpenBLAS without those kernels: no loop")
        XCTAssertEqual(coreType(["CONFAB_OPENBLAS_CORETYPE": "Haswell"], chosen: "Cooperlake"), ["OPENBLAS_CORETYPE=Haswell"])
        XCTAssertEqual(coreType(["CONFAB_OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_CORETYPE": "Haswell"], chosen: "Haswell"), [])
        XCTAssertEqual(OpenBLASSettings.missing(environment: [:], chosen: "Cooperlake", cpuLevel: 2).map(\.0), ["OPENBLAS_THREAD_TIMEOUT"])

        // What confab runs with, read from its own output: kernels that use this CPU's widest vector units.
        let r = try confab(["environment"], unsetting: ["OPENBLAS_CORETYPE", "OPENBLAS_THREAD_TIMEOUT", "CONFAB_OPENBLAS_CORETYPE"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let core = r.stdout.split(separator: "\n").first { $0.hasPrefix("# OpenBLAS kernels in use: ") }
            .map { String($0.dropFirst("# OpenBLAS kernels in use: ".count)) } ?? ""
        XCTAssertNil(OpenBLASSettings.betterCoreType(chosen: core, cpuLevel: OpenBLASSettings.cpuLevel), "confab runs with \(core): \(r.stdout)")

        // The same with the narrowest family set in the environment (as some machines do for every program).
        let narrowed = try confab(["environment"], unsetting: ["OPENBLAS_THREAD_TIMEOUT", "CONFAB_OPENBLAS_CORETYPE"],
                                  setting: ["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertEqual(narrowed.status, 0, narrowed.stderr)
        let widened = narrowed.stdout.split(separator: "\n").first { $0.hasPrefix("# OpenBLAS kernels in use: ") }
            .map { String($0.dropFirst("# OpenBLAS kernels in use: ".count)) } ?? ""
        XCTAssertNil(OpenBLASSettings.betterCoreType(chosen: widened, cpuLevel: OpenBLASSettings.cpuLevel), "confab runs with \(widened): \(narrowed.stdout)")
    }

    func testUsageShowsDefaults() throws {
        let r = try confab(["play", "--help"])
        XCTAssertEqual(r.status, 0)
        for s in ["--device <device>", "(default: default)", "--period-frames", "(default: 512)", "--buffer-frames", "(default: 2048)",
                  "--capture-device", "--playback-device"] {
            XCTAssertTrue(r.stdout.contains(s), "usage mentions \(s)")
        }
        let rec = try confab(["record", "--help"])
        XCTAssertTrue(rec.stdout.contains("(default: 16000)"), rec.stdout)
    }
}
