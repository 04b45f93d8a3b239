import ArgumentParser
import AudioIO
import Foundation
import UI

struct Play: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "play",
        abstract: "Play audio files through ALSA with elapsed time and a level meter.",
        discussion: "Reads anything libsndfile reads (WAV, FLAC, OGG, …) at any rate and channel count; `-` reads a WAV from standard input. In a terminal the progress shows on a playback screen (q, Esc or Ctrl-C stop); otherwise on one status line (Ctrl-C stops at once).")

    @Argument(help: "Audio files to play in order (`-` reads a WAV from standard input).")
    var files: [String]
    @OptionGroup var audio: AudioDeviceOptions
    @Flag(name: .shortAndLong, help: "Print the negotiated device parameters and the playback counters.")
    var verbose = false

    @Flag(help: "No colours on the playback screen (also when NO_COLOR is set).") var noColor = false

    typealias Clip = (name: String, samples: [Float], info: AudioFile.Info)

    /// Where playback reports to: the one-line status on stderr, or the front end's playback screen.
    struct Progress {
        var show: (_ clip: Int, _ elapsed: Double, _ total: Double, _ levelDB: Float) -> Void
        var log: (String) -> Void
        var stopRequested: () -> Bool
        /// Announce each clip as it starts (when nothing shows progress).
        var announce: Bool
    }

    func run() throws {
        // In a terminal the progress is shown on the front end's playback screen (standard input is the
        // keyboard then, so `-` rules it out); its terminal session handles the signals.
        let onScreen = isatty(0) == 1 && isatty(1) == 1 && !files.contains("-")
        if !onScreen { Interrupts.install() }
        do {
            guard files.filter({ $0 == "-" }).count <= 1 else { throw ValidationError("standard input (`-`) can be played only once") }
            // Read every file and open the device first, so a bad file or device is reported before any sound
            // (and before a screen opens).
            let clips = try loadClips()
            let player = try ALSAPlayer(device: audio.playbackName, sampleRate: clips[0].info.sampleRate,
                                        channels: min(2, clips[0].info.channels), options: audio.alsa)
            defer { player.close() }
            if onScreen {
                if try playOnScreen(clips, player) == false { throw ExitCode(130) }
                return
            }
            let status = StatusLine()
            defer { status.finish() }
            let progress = Progress(
                show: { i, elapsed, total, db in status.show("▶ \(clips[i].name)  \(clock(elapsed)) / \(clock(total))  \(levelBar(db))") },
                log: { status.finish(); printErr($0) },
                stopRequested: { Interrupts.pending != nil },
                announce: !status.enabled)
            if try play(clips, player, progress) == false { status.finish(); printErr("stopped"); throw ExitCode(130) }
        } catch let e as ExitCode { throw e } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }

    private func loadClips() throws -> [Clip] {
        var clips: [Clip] = []
        for f in files {
            let (s, info) = try AudioFile.readInterleaved(f)
            guard info.frames > 0 else { throw AudioFileError(path: f, problem: "contains no audio frames: nothing to play") }
            clips.append((f == "-" ? "stdin" : (f as NSString).lastPathComponent, s, info))
        }
        return clips
    }

    /// The playback screen: the files, the one playing with its time and a progress bar, the output level.
    /// q, Esc, Ctrl-C or SIGTERM stop. Returns false when stopped before the end.
    private func playOnScreen(_ clips: [Clip], _ player: ALSAPlayer) throws -> Bool {
        let terminal = try Terminal(color: !noColor)
        defer { terminal.restore() }
        let shared = PlaybackShared()
        var model = ScreenModel()
        model.title = "confab play"
        model.mode = .playback
        model.meterLabel = "out"
        model.activity = .playing
        model.headerDetails = "\(player.device) · \(player.sampleRate) Hz · \(player.channels) ch"
        for c in clips { model.add(.system, "\(c.name)  \(clock(Double(c.info.frames) / Double(c.info.sampleRate)))") }
        let progress = Progress(
            show: { i, elapsed, total, db in shared.set(clip: i, elapsed: elapsed, total: total, db: db) },
            log: { shared.log($0) },
            stopRequested: { shared.stop || terminal.terminationRequested },
            announce: false)
        // The playback loop runs on its own thread; the screen's thread draws and reads keys.
        let job = UncheckedSendable(value: { try self.play(clips, player, progress) })
        let worker = Thread {
            do { shared.finish(try job.value() ? .played : .stopped) } catch { shared.finish(.failed(error)) }
        }
        worker.start()
        let renderer = ScreenRenderer()
        while true {
            let now = shared.snapshot()
            if let (i, elapsed, total, db) = now.position {
                model.activityDetail = "\(clips[i].name)  \(clock(elapsed)) / \(clock(total))"
                model.progress = total > 0 ? elapsed / total : nil
                model.inputLevelDB = db
                for (k, c) in clips.enumerated() {
                    let mark = k < i ? "✓" : k == i ? "▶" : " "
                    model.entries[k].text = "\(mark) \(c.name)  \(clock(Double(c.info.frames) / Double(c.info.sampleRate)))"
                }
            }
            for line in now.logs { model.add(.system, line) }
            if now.result != nil { break }
            model.tick += 1
            renderer.draw(model, on: terminal)
            if terminal.terminationRequested { shared.stop = true }
            switch terminal.readKey(timeoutMs: 50) {
            case .char("q"), .char("x"), .escape, .control("c"), .control("d"): shared.stop = true
            case .pageUp: model.scrollBack += 5
            case .pageDown: model.scrollBack = max(0, model.scrollBack - 5)
            default: break
            }
        }
        terminal.restore()
        switch shared.snapshot().result {
        case .failed(let e): throw e
        case .stopped: printErr("stopped"); return false
        default: return true
        }
    }

    /// Plays the clips in order. Returns false when stopped by `progress.stopRequested`.
    private func play(_ clips: [Clip], _ player: ALSAPlayer, _ progress: Progress) throws -> Bool {
        let rate = player.sampleRate, ch = player.channels
        if verbose {
            progress.log("playback: \(player.device) \(player.deviceFormat) \(rate) Hz \(player.deviceChannels) ch, period \(player.periodFrames) frames (\(ms(player.periodFrames, rate))), buffer \(player.bufferFrames) frames (\(ms(player.bufferFrames, rate))), \(player.isRealtime ? "SCHED_FIFO" : "normal priority") thread")
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
            progress.show(i, elapsed, total, player.level.rmsDB)
        }
        var lastShow: UInt64 = 0
        player.armFirstSoundProbe()
        let firstEnqueue = AudioClock.nanoseconds()
        for (i, samples) in streams.enumerated() {
            if progress.announce {
                progress.log("playing \(clips[i].name) (\(String(format: "%.2f", Double(samples.count / ch) / Double(rate))) s)")
            }
            // Enqueue in ~20 ms chunks (enqueue waits while the ring is full), checking for a stop in between.
            let chunk = max(ch, rate / 50 * ch)
            var pos = 0
            try samples.withUnsafeBufferPointer { buf in
                while pos < buf.count && !progress.stopRequested() {
                    let n = min(chunk, buf.count - pos)
                    pos += try player.enqueue(UnsafeBufferPointer(rebasing: buf[pos..<(pos + n)]))
                    let now = AudioClock.nanoseconds()
                    if now - lastShow > 50_000_000 { show(); lastShow = now }
                }
            }
            if progress.stopRequested() { break }
        }
        if progress.stopRequested() { player.stop(); return false }
        // Let the tail play out, still answering a stop within a period.
        let drainError = ErrorBox()
        let drainer = Thread { do { try player.drain() } catch { drainError.set(error) } }
        drainer.start()
        while !drainer.isFinished && !progress.stopRequested() {
            AudioClock.sleep(milliseconds: 10)
            let now = AudioClock.nanoseconds()
            if now - lastShow > 50_000_000 { show(); lastShow = now }
        }
        if progress.stopRequested() { player.stop(); return false }
        show()
        if let e = drainError.get() { throw e }
        if verbose {
            let c = player.counters
            progress.log("played \(c.samplesHanded / ch) frames; underruns \(c.underruns) (\(c.underrunFrames) frames of silence), xruns \(c.xruns), frames written \(c.framesWritten), last device delay \(c.delayFrames) frames")
            if let t = player.firstSoundHandedAt {
                progress.log(String(format: "first non-silent sample handed to ALSA %.2f ms after the first enqueue", Double(t - firstEnqueue) / 1e6))
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

/// What the playback thread hands the screen: the position, log lines and the outcome.
final class PlaybackShared: @unchecked Sendable {
    enum Result { case played, stopped, failed(Error) }
    private let lock = NSLock()
    private var position: (Int, Double, Double, Float)?
    private var logs: [String] = []
    private var result: Result?
    private var _stop = false

    var stop: Bool { get { lock.withLock { _stop } } set { lock.withLock { _stop = newValue } } }
    func set(clip: Int, elapsed: Double, total: Double, db: Float) { lock.withLock { position = (clip, elapsed, total, db) } }
    func log(_ line: String) { lock.withLock { logs.append(line) } }
    func finish(_ r: Result) { lock.withLock { result = r } }

    /// The latest position, the log lines since the last call, and the outcome once playback ended.
    func snapshot() -> (position: (Int, Double, Double, Float)?, logs: [String], result: Result?) {
        lock.withLock { defer { logs.removeAll() }; return (position, logs, result) }
    }
}

/// Hands a value that is used on one thread at a time (here: handed over once) to another thread.
struct UncheckedSendable<T>: @unchecked Sendable { let value: T }
