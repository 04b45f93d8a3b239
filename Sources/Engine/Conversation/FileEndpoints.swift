import AudioIO
import Foundation

/// Headless conversation (`confab converse --input q.wav --output reply.wav`): the microphone is a
/// file, read as fast as the pipeline asks for it.
public final class FileCaptureSource: CaptureFrameSource, @unchecked Sendable {
    public let sampleRate: Int
    private let samples: [Float]
    private let lock = NSLock()
    private var position = 0
    private var stopped = false

    /// Loads `path` (any format libsndfile reads) as mono at `sampleRate`, followed by `trailingSilence`
    /// seconds so the last question's end of speech is detected.
    public init(path: String, sampleRate: Int = 16000, trailingSilence: Double = 1.0) throws {
        self.sampleRate = sampleRate
        let audio = try AudioFile.readMono(path, sampleRate: sampleRate)
        guard !audio.isEmpty else { throw AudioFileError(path: path, problem: "no audio in file") }
        samples = audio + [Float](repeating: 0, count: Int(trailingSilence * Double(sampleRate)))
    }

    public var duration: Double { Double(samples.count) / Double(sampleRate) }

    public func read(into buffer: UnsafeMutablePointer<Float>, count: Int) -> Int {
        lock.withLock {
            guard !stopped else { return 0 }
            let n = min(count, samples.count - position)
            if n > 0 {
                samples.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress! + position, count: n) }
                position += n
            }
            return max(0, n)
        }
    }

    public func close() { lock.withLock { stopped = true } }
}

/// Headless speaker: every enqueued sample is "played" at once into a WAV file (and counted).
public final class FilePlaybackSink: PlaybackSink, @unchecked Sendable {
    public let sampleRate: Int
    private let writer: AudioFile.Writer?
    private let lock = NSLock()
    private var played = 0

    /// `path` nil: the audio is counted and dropped.
    public init(path: String?, sampleRate: Int) throws {
        self.sampleRate = sampleRate
        writer = try path.map { try AudioFile.Writer(path: $0, sampleRate: sampleRate, channels: 1) }
    }

    public func enqueue(_ samples: UnsafeBufferPointer<Float>) {
        lock.withLock {
            try? writer?.append(samples)
            played += samples.count
        }
    }

    public func stop() {}
    public var samplesPlayed: Int { lock.withLock { played } }
    public func close() { lock.withLock { writer?.close() } }
}
