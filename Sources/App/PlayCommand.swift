import ArgumentParser
import AudioIO
import Foundation

struct Play: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "play",
        abstract: "Play audio files through ALSA with elapsed time and a level meter.",
        discussion: "Reads anything libsndfile reads (WAV, FLAC, OGG, …) at any rate and channel count; `-` reads a WAV from standard input. Ctrl-C stops at once.")

    @Argument(help: "Audio files to play in order (`-` reads a WAV from standard input).")
    var files: [String]
    @OptionGroup var audio: AudioDeviceOptions
    @Flag(name: .shortAndLong, help: "Print the negotiated device parameters and the playback counters.")
    var verbose = false

    func run() throws {
        Interrupts.install()
        let status = StatusLine()
        defer { status.finish() }
        do {
            if try play(status) == false { throw ExitCode(130) }
        } catch let e as ExitCode { throw e } catch { status.finish(); throw fail(error) }
    }

    /// Returns false when stopped by a signal.
    private func play(_ status: StatusLine) throws -> Bool {
        guard files.filter({ $0 == "-" }).count <= 1 else { throw ValidationError("standard input (`-`) can be played only once") }
        // Read every file first, so a bad one is reported before any sound.
        var clips: [(name: String, samples: [Float], info: AudioFile.Info)] = []
        for f in files {
            let (s, info) = try AudioFile.readInterleaved(f)
            guard info.frames > 0 else { throw AudioFileError(path: f, problem: "contains no audio frames: nothing to play") }
            clips.append((f == "-" ? "stdin" : (f as NSString).lastPathComponent, s, info))
        }
        let first = clips[0].info
        let player = try ALSAPlayer(device: audio.playbackName, sampleRate: first.sampleRate,
                                    channels: min(2, first.channels), options: audio.alsa)
        defer { player.close() }
        let rate = player.sampleRate, ch = player.channels
        if verbose {
            printErr("playback: \(player.device) \(player.deviceFormat) \(rate) Hz \(player.deviceChannels) ch, period \(player.periodFrames) frames (\(ms(player.periodFrames, rate))), buffer \(player.bufferFrames) frames (\(ms(player.bufferFrames, rate))), \(player.isRealtime ? "SCHED_FIFO" : "normal priority") thread")
        }

        let streams = clips.map { conform($0.samples, from: $0.info, toRate: rate, channels: ch) }
        var starts = [0]                       // where each clip starts in the enqueued stream (samples)
        for s in streams { starts.append(starts.last! + s.count) }
        // The clip under the speaker: samples handed to the device, less what the device still holds.
        func show() {
            let c = player.counters
            let heard = max(0, c.samplesHanded - c.delayFrames * ch)
            let i = max(0, min(streams.count - 1, (starts.lastIndex { $0 <= heard } ?? 0)))
            let total = Double(streams[i].count / ch) / Double(rate)
            let elapsed = min(total, Double((heard - starts[i]) / ch) / Double(rate))
            status.show("▶ \(clips[i].name)  \(clock(elapsed)) / \(clock(total))  \(levelBar(player.level.rmsDB))")
        }
        var lastShow: UInt64 = 0
        player.armFirstSoundProbe()
        let firstEnqueue = AudioClock.nanoseconds()
        for (i, samples) in streams.enumerated() {
            if !status.enabled {
                printErr("playing \(clips[i].name) (\(String(format: "%.2f", Double(samples.count / ch) / Double(rate))) s)")
            }
            // Enqueue in ~20 ms chunks (enqueue waits while the ring is full), checking for Ctrl-C in between.
            let chunk = max(ch, rate / 50 * ch)
            var pos = 0
            try samples.withUnsafeBufferPointer { buf in
                while pos < buf.count && Interrupts.pending == nil {
                    let n = min(chunk, buf.count - pos)
                    pos += try player.enqueue(UnsafeBufferPointer(rebasing: buf[pos..<(pos + n)]))
                    let now = AudioClock.nanoseconds()
                    if now - lastShow > 50_000_000 { show(); lastShow = now }
                }
            }
            if Interrupts.pending != nil { break }
        }
        if Interrupts.pending != nil {
            player.stop()
            status.finish()
            printErr("stopped")
            return false
        }
        // Let the tail play out, still answering Ctrl-C within a period.
        let drainError = ErrorBox()
        let drainer = Thread { do { try player.drain() } catch { drainError.set(error) } }
        drainer.start()
        while !drainer.isFinished && Interrupts.pending == nil {
            AudioClock.sleep(milliseconds: 10)
            let now = AudioClock.nanoseconds()
            if now - lastShow > 50_000_000 { show(); lastShow = now }
        }
        if Interrupts.pending != nil { player.stop(); status.finish(); printErr("stopped"); return false }
        status.finish()
        if let e = drainError.get() { throw e }
        if verbose {
            let c = player.counters
            printErr("played \(c.samplesHanded / ch) frames; underruns \(c.underruns) (\(c.underrunFrames) frames of silence), xruns \(c.xruns), frames written \(c.framesWritten), last device delay \(c.delayFrames) frames")
            if let t = player.firstSoundHandedAt {
                printErr(String(format: "first non-silent sample handed to ALSA %.2f ms after the first enqueue", Double(t - firstEnqueue) / 1e6))
            }
        }
        return true
    }

    private func ms(_ frames: Int, _ rate: Int) -> String { String(format: "%.1f ms", Double(frames) * 1000 / Double(rate)) }
}

/// Interleaved samples with `info`'s rate and channels → `channels` channels at `toRate`.
func conform(_ x: [Float], from info: AudioFile.Info, toRate: Int, channels: Int) -> [Float] {
    let inCh = info.channels, frames = info.frames
    var planes: [[Float]] = (0..<channels).map { c in
        var p = [Float](repeating: 0, count: frames)
        if inCh == channels || (channels == 2 && inCh > 2) {
            for f in 0..<frames { p[f] = x[f * inCh + c] }          // same layout, or first two channels
        } else if inCh == 1 {
            for f in 0..<frames { p[f] = x[f] }                    // mono to every channel
        } else {
            let inv = 1 / Float(inCh)                              // downmix to mono
            for f in 0..<frames { var s: Float = 0; for k in 0..<inCh { s += x[f * inCh + k] }; p[f] = s * inv }
        }
        return p
    }
    if info.sampleRate != toRate {
        let r = Resampler(from: info.sampleRate, to: toRate)
        planes = planes.map { r.process($0) }
    }
    if channels == 1 { return planes[0] }
    let n = planes[0].count
    var out = [Float](repeating: 0, count: n * channels)
    for f in 0..<n { for c in 0..<channels { out[f * channels + c] = planes[c][f] } }
    return out
}

extension AudioClock {
    static func sleep(milliseconds: Int) { usleep(UInt32(milliseconds * 1000)) }
}

/// An error handed from a helper thread.
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    func set(_ e: Error) { lock.lock(); error = e; lock.unlock() }
    func get() -> Error? { lock.lock(); defer { lock.unlock() }; return error }
}
