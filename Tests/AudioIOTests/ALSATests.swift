import XCTest
import CALSA
@testable import AudioIO

/// The real ALSA path (snd_pcm_open_lconf, hw/sw params, readi/writei, recovery) on devices made of
/// the `file` plugin over `null`, configured in-process: no sound card needed.
final class ALSATests: XCTestCase {
    var dir: URL!
    var infile: URL!
    var outfile: URL!
    var config: ALSAConfig!
    let input = testSignal16(count: 20_000)

    override func setUpWithError() throws {
        dir = try makeTempDir(self)
        infile = dir.appendingPathComponent("in.raw")
        outfile = dir.appendingPathComponent("out.wav")
        try writeRaw16(input, to: infile)
        config = try ALSAConfig(text: testALSAConfig(infile: infile, outfile: outfile, inline: true))
    }

    /// Unpaced and at normal priority: tests run faster than real time and share the CPU politely.
    let fast = ALSAOptions(periodFrames: 256, bufferFrames: 1024, ringSeconds: 8, pacing: .never, realtimePriority: false)

    /// Captures until the ring is full (unpaced capture outruns any reader), then checks every sample.
    func captureAll(device: String) throws -> (ALSACapture, [Float]) {
        let mic = try ALSACapture(device: device, sampleRate: 16000, options: fast, config: config)
        try mic.start()
        XCTAssertTrue(waitUntil { mic.counters.overruns > 0 }, "capture ran")
        mic.stop()
        var out = [Float](repeating: 0, count: 1 << 18)
        let n = try out.withUnsafeMutableBufferPointer { try mic.read(into: $0) }
        return (mic, Array(out[0..<n]))
    }

    func testCaptureReturnsExactlyTheInputSamples() throws {
        for device in ["mic", "mic_raw"] {
            let (mic, got) = try captureAll(device: device)
            XCTAssertEqual(mic.sampleRate, 16000)
            XCTAssertEqual(mic.deviceFormat, .s16, "capture prefers S16")
            XCTAssertGreaterThan(got.count, input.count + 1000, device)
            assertSameSamples(got.prefix(input.count).map { Int16(($0 * 32768).rounded()) }, input, "\(device): exactly the infile's samples")
            XCTAssertTrue(got.dropFirst(input.count).allSatisfy { $0 == 0 }, "\(device): silence after the infile ends")
            XCTAssertEqual(mic.counters.xruns, 0)
            XCTAssertEqual(mic.counters.framesCaptured, got.count + mic.counters.droppedSamples)
        }
    }

    func testPlaybackWritesExactlyTheEnqueuedSamples() throws {
        for channels in [1, 2] {
            let samples: [Float]
            if channels == 1 { samples = input.map { Float($0) / 32768 } }
            else { samples = input.flatMap { [Float($0) / 32768, Float(-(Int32($0) / 2)) / 32768] } }   // exact in 16 bits
            do {
                let out = try ALSAPlayer(device: "speaker", sampleRate: 22050, channels: channels, options: fast, config: config)
                XCTAssertEqual(out.sampleRate, 22050)
                XCTAssertEqual(out.deviceFormat, .float32, "playback prefers float")
                XCTAssertEqual(out.deviceChannels, channels)
                // Enqueue in uneven pieces, more than the ring holds in total across the test.
                var pos = 0
                while pos < samples.count {
                    let n = min(samples.count - pos, 777 * channels)
                    XCTAssertEqual(try samples.withUnsafeBufferPointer { try out.enqueue(UnsafeBufferPointer(rebasing: $0[pos..<(pos + n)])) }, n)
                    pos += n
                }
                try out.drain()
                let c = out.counters
                XCTAssertEqual(c.samplesHanded, samples.count)
                XCTAssertEqual(c.samplesEnqueued, samples.count)
                XCTAssertEqual(c.xruns, 0)
                out.close()
            }
            let (wav, info) = try readWav16(outfile)
            XCTAssertEqual(info.sampleRate, 22050)
            XCTAssertEqual(info.channels, channels)
            XCTAssertGreaterThanOrEqual(wav.count, samples.count)
            assertSameSamples(Array(wav.prefix(samples.count)), samples.map { floatToS16($0) }, "\(channels) ch: sample for sample")
            XCTAssertTrue(wav.dropFirst(samples.count).allSatisfy { $0 == 0 }, "only padding after the end")
        }
    }

    /// Paced playback on a non-pacing device behaves like a sound card: silence and a counted underrun when
    /// the ring runs dry, the first-sound stamp, drain, and stop() discarding what is queued.
    func testPacedPlayerUnderrunFirstSoundDrainAndStop() throws {
        let opts = ALSAOptions(periodFrames: 256, bufferFrames: 1024, ringSeconds: 4, pacing: .auto, realtimePriority: true)
        let out = try ALSAPlayer(device: "silent", sampleRate: 16000, channels: 1, options: opts, config: config)
        defer { out.close() }
        XCTAssertEqual(out.periodFrames, 256)
        XCTAssertEqual(out.bufferFrames, 1024)

        out.armFirstSoundProbe()
        XCTAssertNil(out.firstSoundHandedAt)
        let t0 = AudioClock.nanoseconds()
        try out.enqueue([Float](repeating: 0, count: 256) + [Float](repeating: 0.25, count: 300))
        XCTAssertTrue(waitUntil { out.firstSoundHandedAt != nil }, "the first non-silent period reached ALSA")
        let t1 = try XCTUnwrap(out.firstSoundHandedAt)
        XCTAssertGreaterThanOrEqual(t1, t0)
        print("playback: enqueue → writei of the first sound \(String(format: "%.2f", Double(t1 - t0) / 1e6)) ms (idle player, period 256 @ 16 kHz)")
        // 556 samples = 2 periods + 44: the third period runs dry while playing.
        XCTAssertTrue(waitUntil { out.counters.underruns >= 1 }, "the ring ran dry and it was counted")
        XCTAssertGreaterThan(out.counters.underrunFrames, 0)
        try out.drain()
        let afterDrain = out.counters
        XCTAssertEqual(afterDrain.samplesHanded, 556)

        // Two seconds queued, then stop(): everything still queued is discarded at once.
        let tone = (0..<32000).map { 0.3 * sinf(Float($0) * 0.05) }
        try out.enqueue(tone)
        XCTAssertTrue(waitUntil { out.counters.samplesHanded > afterDrain.samplesHanded + 1024 })
        let s0 = AudioClock.nanoseconds()
        out.stop()
        let stopMs = Double(AudioClock.nanoseconds() - s0) / 1e6
        print("playback: stop() returned after \(String(format: "%.2f", stopMs)) ms")
        XCTAssertEqual(out.queuedSamples, 0)
        let handed = out.counters.samplesHanded
        XCTAssertLessThan(handed, afterDrain.samplesHanded + 32000, "the rest of the tone was discarded")
        usleep(50_000)
        XCTAssertEqual(out.counters.samplesHanded, handed, "nothing more plays after stop()")
        // The player is usable again after stop().
        try out.enqueue([Float](repeating: 0.1, count: 512))
        try out.drain()
        XCTAssertEqual(out.counters.samplesHanded, handed + 512)
        XCTAssertEqual(out.counters.xruns, 0)
    }

    // MARK: errors

    func testUnknownDeviceAndMalformedConfigErrors() throws {
        XCTAssertThrowsError(try ALSAPlayer(device: "nosuch", sampleRate: 16000, options: fast, config: config)) { e in
            XCTAssertEqual(e as? AudioDeviceError, AudioDeviceError(.unknownDevice, device: "nosuch", direction: .playback))
            XCTAssertEqual("\(e)", "unknown ALSA playback device 'nosuch': run `confab devices` to list devices, or pass --device NAME")
        }
        XCTAssertThrowsError(try ALSACapture(device: "nosuch", sampleRate: 16000, options: fast, config: config)) { e in
            XCTAssertEqual("\(e)", "unknown ALSA capture device 'nosuch': run `confab devices` to list devices, or pass --device NAME")
        }
        let closed = try ALSAPlayer(device: "silent", sampleRate: 16000, options: fast, config: config)
        closed.close()
        XCTAssertThrowsError(try closed.enqueue([0.1, 0.2])) { e in
            XCTAssertEqual((e as? AudioDeviceError)?.kind, .closed)
        }
        closed.stop()   // harmless after close (returns at once)
        XCTAssertThrowsError(try ALSAConfig(text: "pcm.broken { type file; slave.pcm { ")) { e in
            XCTAssertTrue("\(e)".hasPrefix("ALSA configuration: cannot parse"), "\(e)")
        }
    }

    /// A busy device, a missing card and a failing device cannot be produced without hardware: the mapping
    /// from ALSA's error codes to messages is checked directly.
    func testBusyNoCardAndFailureMessages() {
        let busy = ALSAPCM.openError(-EBUSY, name: "hw:0,0", direction: .playback, config: nil)
        XCTAssertEqual(busy.kind, .busy)
        XCTAssertEqual("\(busy)", "ALSA playback device 'hw:0,0' is busy (another program is using it): close that program, or pass --device (e.g. `default`, or a plughw:/dmix device from `confab devices`)")
        let noCard = ALSAPCM.openError(-ENOENT, name: "default", direction: .capture, config: nil)
        if ALSADevices.cards().isEmpty {
            XCTAssertEqual("\(noCard)", "no sound card found (ALSA capture device 'default' cannot be opened): connect one, or pass --device with a PCM from `confab devices`")
        } else {
            XCTAssertEqual(noCard.kind, .cannotOpen)
        }
        let gone = AudioDeviceError(.failed, device: "hw:1", direction: .playback, detail: alsaErrorText(-ENODEV))
        XCTAssertEqual("\(gone)", "ALSA playback device 'hw:1' stopped working (No such device): was it unplugged? run `confab devices`")
    }

    func testSampleConversionsAreExactAtSixteenBits() {
        let ints: [Int16] = [-32768, -32767, -1, 0, 1, 12345, 32767]
        var f = ints.map { Float($0) / 32768 }
        var raw = [Int16](repeating: 0, count: ints.count)
        raw.withUnsafeMutableBytes { encodeSamples(f, srcChannels: 1, frames: ints.count, into: $0.baseAddress!, format: .s16, dstChannels: 1) }
        XCTAssertEqual(raw, ints)
        var back = [Float](repeating: 0, count: ints.count)
        raw.withUnsafeBytes { decodeToMono($0.baseAddress!, format: .s16, channels: 1, frames: ints.count, into: &back) }
        XCTAssertEqual(back, f)
        // Clipping, mono → stereo, S24 sign extension.
        f = [2, -2]
        var st = [Int16](repeating: 0, count: 4)
        st.withUnsafeMutableBytes { encodeSamples(f, srcChannels: 1, frames: 2, into: $0.baseAddress!, format: .s16, dstChannels: 2) }
        XCTAssertEqual(st, [32767, 32767, -32768, -32768])
        var s24: [Int32] = [0x00FF_FFFF, 0x0040_0000]   // -1 and +0.5 in 24 bits
        var m = [Float](repeating: 0, count: 2)
        s24.withUnsafeMutableBytes { decodeToMono($0.baseAddress!, format: .s24in32, channels: 1, frames: 2, into: &m) }
        XCTAssertEqual(m, [-1 / 8388608, 0.5])
    }
}
