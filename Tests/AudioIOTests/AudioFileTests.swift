import XCTest
@testable import AudioIO

final class AudioFileTests: XCTestCase {
    func testWavRoundTripIsExactAt16Bit() throws {
        let dir = try makeTempDir(self)
        let s = testSignal16(count: 5000)
        let url = dir.appendingPathComponent("a.wav")
        try writeWav16(s, rate: 22050, to: url)
        let (back, info) = try readWav16(url)
        XCTAssertEqual(info, AudioFile.Info(sampleRate: 22050, channels: 1, frames: 5000))
        XCTAssertEqual(back, s)
    }

    func testFlacRoundTripIsExactAndStereoKeepsChannels() throws {
        let dir = try makeTempDir(self)
        let l = testSignal16(count: 3000, seed: 2), r = testSignal16(count: 3000, seed: 3)
        var inter: [Int16] = []
        for i in 0..<3000 { inter.append(l[i]); inter.append(r[i]) }
        let url = dir.appendingPathComponent("b.flac")
        try AudioFile.write(url.path, samples: inter.map { Float($0) / 32768 }, sampleRate: 44100, channels: 2)
        let (back, info) = try readWav16(url)
        XCTAssertEqual(info.channels, 2)
        XCTAssertEqual(info.sampleRate, 44100)
        XCTAssertEqual(back, inter, "FLAC is lossless")
        let head = try FileHandle(forReadingFrom: url).read(upToCount: 4)
        XCTAssertEqual(head.map { String(decoding: $0, as: UTF8.self) }, "fLaC", "a .flac name writes FLAC")
    }

    func testFloatWavAndReadMonoResamplesAndMixes() throws {
        let dir = try makeTempDir(self)
        let url = dir.appendingPathComponent("f.wav")
        // Stereo float at 48 kHz, left = right = a 1 kHz tone: mono at 16 kHz keeps the tone.
        let n = 4800
        var st: [Float] = []
        for i in 0..<n { let v = 0.5 * sinf(2 * .pi * 1000 * Float(i) / 48000); st.append(v); st.append(v) }
        try AudioFile.write(url.path, samples: st, sampleRate: 48000, channels: 2, format: .wavFloat)
        let (raw, info) = try AudioFile.readInterleaved(url.path)
        XCTAssertEqual(raw, st, "float WAV is bit-exact")
        XCTAssertEqual(info.frames, n)
        let mono = try AudioFile.readMono(url.path, sampleRate: 16000)
        XCTAssertEqual(mono.count, 1600)
        let expect = Resampler.resample((0..<n).map { st[2 * $0] }, from: 48000, to: 16000)
        XCTAssertEqual(mono, expect)
    }

    func testWriterKeepsHeaderValidWhileWriting() throws {
        let dir = try makeTempDir(self)
        let url = dir.appendingPathComponent("w.wav")
        let w = try AudioFile.Writer(path: url.path, sampleRate: 16000)
        try w.append((0..<1000).map { Float($0 % 100) / 200 })
        // Read while the writer is still open (as if the program were killed now).
        let (_, info) = try AudioFile.readInterleaved(url.path)
        XCTAssertEqual(info.frames, 1000)
        try w.append([Float](repeating: 0.1, count: 500))
        XCTAssertEqual(try AudioFile.readInterleaved(url.path).info.frames, 1500)
        w.close()
    }

    // MARK: bad input: one line naming the file, the problem and what to do

    func message(_ path: String) -> String? {
        do { _ = try AudioFile.readInterleaved(path); return nil } catch { return "\(error)" }
    }

    func testBadFilesGiveOneLineErrors() throws {
        let dir = try makeTempDir(self)
        let good = dir.appendingPathComponent("good.wav")
        try writeWav16(testSignal16(count: 16000), rate: 16000, to: good)
        let bytes = try Data(contentsOf: good)

        let missing = dir.appendingPathComponent("missing.wav").path
        XCTAssertEqual(message(missing), "\(missing): no such file: check the path")

        let empty = dir.appendingPathComponent("empty.wav")
        try Data().write(to: empty)
        XCTAssertEqual(message(empty.path), "\(empty.path): is empty (0 bytes): not an audio file")

        let text = dir.appendingPathComponent("notes.wav")
        try Data("just some words, not audio\n".utf8).write(to: text)
        XCTAssertEqual(message(text.path), "\(text.path): is not an audio file libsndfile can read (Format not recognised.): use WAV, FLAC, OGG or another format it reads")

        let cutHeader = dir.appendingPathComponent("cut-header.wav")
        try bytes.prefix(30).write(to: cutHeader)
        let m1 = try XCTUnwrap(message(cutHeader.path))
        XCTAssertTrue(m1.hasPrefix("\(cutHeader.path): is damaged or truncated ("), m1)

        let cutData = dir.appendingPathComponent("cut-data.wav")
        try bytes.prefix(44 + 3200).write(to: cutData)
        XCTAssertEqual(message(cutData.path), "\(cutData.path): is truncated: its header promises 1.00 s of audio but the file holds 0.10 s; re-export or re-record it")

        let flac = dir.appendingPathComponent("good.flac")
        try AudioFile.write(flac.path, samples: testSignal16(count: 16000).map { Float($0) / 32768 }, sampleRate: 16000)
        let cutFlac = dir.appendingPathComponent("cut.flac")
        try Data(contentsOf: flac).prefix(3000).write(to: cutFlac)
        let m2 = try XCTUnwrap(message(cutFlac.path))
        XCTAssertTrue(m2.hasPrefix("\(cutFlac.path): is damaged or truncated ("), m2)

        XCTAssertEqual(message(dir.path), "\(dir.path): is a directory, not an audio file")

        for m in [m1, m2] { XCTAssertFalse(m.contains("\n")) }

        let unwritable = dir.appendingPathComponent("no/such/folder/x.wav").path
        XCTAssertThrowsError(try AudioFile.Writer(path: unwritable, sampleRate: 16000)) { e in
            XCTAssertTrue("\(e)".hasPrefix("\(unwritable): cannot be written ("), "\(e)")
            XCTAssertTrue("\(e)".hasSuffix("check the folder exists and is writable"), "\(e)")
        }
    }
}
