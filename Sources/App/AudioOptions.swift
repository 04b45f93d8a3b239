import ArgumentParser
import AudioIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// ALSA device choice and buffering, shared by every command that plays or records (`@OptionGroup var audio: AudioDeviceOptions`).
struct AudioDeviceOptions: ParsableArguments {
    @Option(help: "ALSA device for capture and playback (`default`, `hw:1,0`, `plughw:…`; see `confab devices`).")
    var device: String = "default"
    @Option(help: "ALSA capture device (default: the --device value).")
    var captureDevice: String?
    @Option(help: "ALSA playback device (default: the --device value).")
    var playbackDevice: String?
    @Option(help: "Frames per ALSA period (the audio thread moves one period per wake-up).")
    var periodFrames: Int = ALSAOptions().periodFrames
    @Option(help: "Frames in the ALSA buffer (at least two periods; bounds playback latency).")
    var bufferFrames: Int = ALSAOptions().bufferFrames

    var captureName: String { captureDevice ?? device }
    var playbackName: String { playbackDevice ?? device }
    var alsa: ALSAOptions { ALSAOptions(periodFrames: periodFrames, bufferFrames: bufferFrames) }

    func validate() throws {
        guard (16...65536).contains(periodFrames) else { throw ValidationError("--period-frames must be between 16 and 65536 (got \(periodFrames))") }
        guard bufferFrames >= 2 * periodFrames, bufferFrames <= 1 << 20 else {
            throw ValidationError("--buffer-frames must be at least twice --period-frames (\(2 * periodFrames)) and at most 1048576 (got \(bufferFrames))")
        }
    }
}

/// One updating line on stderr when it is a terminal (nothing otherwise). Always erased on `finish`.
final class StatusLine {
    let enabled = isatty(2) == 1
    private var shown = false

    var columns: Int {
        var ws = winsize()
        if ioctl(2, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 { return Int(ws.ws_col) }
        return 80
    }

    func show(_ text: String) {
        guard enabled else { return }
        let line = String(text.prefix(max(10, columns - 1)))
        FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
        shown = true
    }

    /// Erases the line (leaves the cursor at column 0 of an empty line).
    func finish() {
        guard enabled, shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        shown = false
    }
}

func printErr(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// "1:02.3"
func clock(_ seconds: Double) -> String {
    let s = max(0, seconds)
    return String(format: "%d:%04.1f", Int(s) / 60, s.truncatingRemainder(dividingBy: 60))
}

/// A level bar for dBFS from -60 to 0, and the number.
func levelBar(_ db: Float, width: Int = 20) -> String {
    let fill = Int(((max(-60, min(0, db)) + 60) / 60 * Float(width)).rounded())
    let bar = String(repeating: "█", count: fill) + String(repeating: "·", count: width - fill)
    return "▕\(bar)▏ " + (db <= -119 ? "  -∞ dB" : String(format: "%4.0f dB", db))
}
