import Foundation
import XCTest
@testable import AudioIO

/// A fresh temporary folder per test, removed afterwards.
func makeTempDir(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("confab-audio-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// Deterministic 16-bit test signal: a few tones plus noise, hitting both extremes, as integers.
func testSignal16(count: Int, seed: UInt64 = 1) -> [Int16] {
    var rng = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { i in
        if i == 10 { return Int16.max }
        if i == 11 { return Int16.min }
        rng = rng &* 6364136223846793005 &+ 1442695040888963407
        let noise = Double(Int64(bitPattern: rng) >> 52) / 4096 * 2000
        let v = 9000 * sin(Double(i) * 0.07) + 5000 * sin(Double(i) * 0.31 + 1) + noise
        return Int16(max(-32768, min(32767, v.rounded())))
    }
}

func writeRaw16(_ samples: [Int16], to url: URL) throws {
    try samples.withUnsafeBytes { try Data($0).write(to: url) }
}

/// Writes a 16-bit WAV of the given integer samples (interleaved) with libsndfile.
func writeWav16(_ samples: [Int16], rate: Int, channels: Int = 1, to url: URL) throws {
    try AudioFile.write(url.path, samples: samples.map { Float($0) / 32768 }, sampleRate: rate, channels: channels, format: .wav16)
}

/// A WAV's samples as 16-bit integers (exact for 16-bit files), and its info.
func readWav16(_ url: URL) throws -> ([Int16], AudioFile.Info) {
    let (f, info) = try AudioFile.readInterleaved(url.path)
    return (f.map { Int16(max(-32768, min(32767, ($0 * 32768).rounded()))) }, info)
}

/// ALSA devices that stand in for a sound card: capture reads `infile` (raw S16_LE mono 16 kHz),
/// playback writes a 16-bit WAV (through `plug`, which converts whatever Confab negotiates).
/// `inline`: slaves written inline, for `snd_pcm_open_lconf`; otherwise for ~/.asoundrc.
func testALSAConfig(infile: URL, outfile: URL, inline: Bool) -> String {
    let null = inline ? "{ type null }" : "\"null\""
    return """
    pcm.mic_raw { type file; slave.pcm \(null); file "/dev/null"; infile "\(infile.path)"; format "raw" }
    pcm.mic { type plug; slave { pcm "mic_raw"; format S16_LE; rate 16000; channels 1 } }
    pcm.speaker_file { type file; slave.pcm \(null); file "\(outfile.path)"; format "wav" }
    pcm.speaker { type plug; slave { pcm "speaker_file"; format S16_LE } }
    pcm.silent { type null }
    pcm.!default { type asym; playback.pcm "speaker"; capture.pcm "mic" }

    """
}

/// Waits (polling) until `condition` holds or `limit` seconds pass; returns whether it held.
/// A liveness bound, not a timing assertion.
func waitUntil(_ limit: Double = 10, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(limit)
    while Date() < end {
        if condition() { return true }
        usleep(2000)
    }
    return condition()
}

/// Equal sample arrays, or a short report (count, first differences) instead of dumping both arrays.
func assertSameSamples<T: Equatable>(_ got: [T], _ want: [T], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    if got == want { return }
    let bad = zip(got, want).enumerated().filter { $0.element.0 != $0.element.1 }
    let first = bad.prefix(5).map { "[\($0.offset)] \($0.element.0) ≠ \($0.element.1)" }.joined(separator: ", ")
    XCTFail("\(what): \(got.count) vs \(want.count) samples, \(bad.count) differ: \(first)", file: file, line: line)
}
