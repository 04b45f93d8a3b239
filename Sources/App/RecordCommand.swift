import ArgumentParser
import AudioIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record from the microphone to a WAV or FLAC file, with a live level meter.",
        discussion: "Stops on Enter, Ctrl-C or after --seconds; the file is complete and valid however it stops. Without a terminal on standard input, only --seconds or a signal stops it.")

    @Option(name: [.short, .customLong("output")], help: "Output file (.flac writes FLAC, anything else WAV; 16-bit).")
    var output: String
    @Option(help: "Stop after this many seconds (default: until Enter or Ctrl-C).")
    var seconds: Double?
    @Option(help: "Sample rate in Hz (the device's nearest rate is used if it lacks this one).")
    var rate: Int = 16000
    @OptionGroup var audio: AudioDeviceOptions
    @Flag(name: .shortAndLong, help: "Print the negotiated device parameters and the capture counters.")
    var verbose = false

    func validate() throws {
        if let s = seconds, !(s > 0 && s <= 86_400) { throw ValidationError("--seconds must be more than 0 and at most 86400 (got \(s))") }
        guard (4000...384_000).contains(rate) else { throw ValidationError("--rate must be between 4000 and 384000 Hz (got \(rate))") }
        guard output != "-" else { throw ValidationError("-o needs a file name (standard output cannot hold a WAV whose length is not known yet)") }
    }

    func run() throws {
        Interrupts.install()
        let status = StatusLine()
        defer { status.finish() }
        do { try record(status) } catch { status.finish(); throw fail(error) }
    }

    private func record(_ status: StatusLine) throws {
        let mic = try ALSACapture(device: audio.captureName, sampleRate: rate, options: audio.alsa)
        defer { mic.close() }
        let sr = mic.sampleRate
        let writer = try AudioFile.Writer(path: output, sampleRate: sr, channels: 1)
        defer { writer.close() }
        let limit = seconds.map { Int(($0 * Double(sr)).rounded()) } ?? Int.max
        var stdinOpen = true
        var buffer = [Float](repeating: 0, count: max(sr / 5, 4096))
        try mic.start()
        if verbose {
            printErr("capture: \(mic.device) \(mic.deviceFormat) \(sr) Hz \(mic.deviceChannels) ch, period \(mic.periodFrames) frames, buffer \(mic.bufferFrames) frames, \(mic.isRealtime ? "SCHED_FIFO" : "normal priority") thread")
        }
        var lastShow: UInt64 = 0
        let hint = seconds == nil ? "Enter or Ctrl-C stops" : "Ctrl-C stops"
        if !status.enabled { printErr("recording to \(output) (\(hint))") }

        // Moves what was captured into the file (never past --seconds).
        func save() throws {
            while writer.framesWritten < limit {
                let want = min(buffer.count, limit - writer.framesWritten)
                let n = try buffer.withUnsafeMutableBufferPointer { try mic.read(into: UnsafeMutableBufferPointer(rebasing: $0[0..<want])) }
                if n == 0 { break }
                try buffer.withUnsafeBufferPointer { try writer.append(UnsafeBufferPointer(rebasing: $0[0..<n])) }
            }
        }

        while writer.framesWritten < limit && Interrupts.pending == nil {
            try save()
            if stdinOpen, let line = pollStdin() {
                if line {                   // Enter: the terminal echoed a newline under the meter; go back up to erase it
                    if status.enabled && isatty(0) == 1 { FileHandle.standardError.write(Data("\u{1B}[1A".utf8)) }
                    break
                }
                stdinOpen = false           // end of input (no terminal): only --seconds or a signal stops
            }
            let now = AudioClock.nanoseconds()
            if now - lastShow > 50_000_000 {
                status.show("● REC \(clock(Double(writer.framesWritten) / Double(sr)))  \(levelBar(mic.level.rmsDB))  \(hint)")
                lastShow = now
            }
            AudioClock.sleep(milliseconds: 10)
        }
        mic.stop()
        try save()
        writer.close()
        status.finish()
        let c = mic.counters
        printErr(String(format: "saved %@: %.2f s at %d Hz", output, Double(writer.framesWritten) / Double(sr), sr)
                 + (c.overruns + c.xruns > 0 || verbose ? " (overruns \(c.overruns), xruns \(c.xruns))" : ""))
    }

    /// nil: nothing typed; true: a line (Enter) arrived; false: standard input ended or is unusable.
    private func pollStdin() -> Bool? {
        var p = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, 0)
        if r < 0 { return errno == EINTR ? nil : false }
        if r == 0 { return nil }
        if p.revents & Int16(POLLNVAL) != 0 { return false }
        var bytes = [UInt8](repeating: 0, count: 256)
        let n = read(0, &bytes, bytes.count)
        if n <= 0 { return n < 0 && errno == EINTR ? nil : false }
        return bytes[0..<n].contains(10) ? true : nil
    }
}
