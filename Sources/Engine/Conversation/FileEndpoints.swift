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
    public convenience init(path: String, sampleRate: Int = 16000, trailingSilence: Double = 1.0) throws {
        let audio = try AudioFile.readMono(path, sampleRate: sampleRate)
        guard !audio.isEmpty else { throw AudioFileError(path: path, problem: "no audio in file") }
        self.init(samples: audio, sampleRate: sampleRate, trailingSilence: trailingSilence)
    }

    /// Audio already in memory, at `sampleRate`, followed by `trailingSilence` seconds.
    public init(samples: [Float], sampleRate: Int = 16000, trailingSilence: Double = 1.0) {
        self.sampleRate = sampleRate
        self.samples = samples + [Float](repeating: 0, count: Int(trailingSilence * Double(sampleRate)))
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
    private var failed = false
    private let onError: @Sendable (String) -> Void

    /// `path` nil: the audio is counted and dropped. `onError` is called once if the file cannot be written (a full
    /// disk); from then on the audio is counted and dropped, and the conversation goes on.
    public init(path: String?, sampleRate: Int, onError: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.sampleRate = sampleRate
        self.onError = onError
        writer = try path.map { try AudioFile.Writer(path: $0, sampleRate: sampleRate, channels: 1) }
    }

    public func enqueue(_ samples: UnsafeBufferPointer<Float>) {
        let problem = lock.withLock { () -> String? in
            played += samples.count
            guard !failed, let writer else { return nil }
            do { try writer.append(samples) } catch { failed = true; return "\(error)" }
            return nil
        }
        if let problem { onError(problem) }
    }

    public func stop() {}
    public var samplesPlayed: Int { lock.withLock { played } }
    public func close() { lock.withLock { writer?.close() } }
}

/// A microphone played from memory in real time: `read` hands out one frame per frame duration of wall-clock
/// time (as a capture device would), silence unless a clip queued with `say` is playing. For latency
/// benchmarks and real-time headless runs, where the hangover and the speculative work inside it must take
/// the time they take with a person.
public final class RealTimeCaptureSource: CaptureFrameSource, @unchecked Sendable {
    public let sampleRate: Int
    private let lock = NSLock()
    private var clips: [[Float]] = []
    private var clip: [Float] = []
    private var position = 0
    private var stopped = false
    private var started: ContinuousClock.Instant?
    private var delivered = 0
    /// Low-level noise under everything (as a real room and microphone have), so the detector has a floor.
    private var noiseState: UInt64 = 0x9E37_79B9_7F4A_7C15
    private let noiseLevel: Float

    public init(sampleRate: Int = 16000, noiseLevel: Float = 1e-4) {
        self.sampleRate = sampleRate; self.noiseLevel = noiseLevel
    }

    /// Queues `samples` (mono at `sampleRate`) to be "spoken" after what is already queued.
    public func say(_ samples: [Float]) { lock.withLock { clips.append(samples) } }

    /// True while a queued clip has not been handed out completely.
    public var isSpeaking: Bool { lock.withLock { position < clip.count || !clips.isEmpty } }

    public func read(into buffer: UnsafeMutablePointer<Float>, count: Int) -> Int {
        let due: ContinuousClock.Instant? = lock.withLock {
            guard !stopped else { return nil }
            let start = started ?? .now
            started = start
            return start + .seconds(Double(delivered + count) / Double(sampleRate))
        }
        guard let due else { return 0 }
        let wait = due - .now
        if wait > .zero { Thread.sleep(forTimeInterval: Double(wait.components.seconds) + Double(wait.components.attoseconds) * 1e-18) }
        return lock.withLock {
            guard !stopped else { return 0 }
            for i in 0..<count {
                if position >= clip.count, !clips.isEmpty { clip = clips.removeFirst(); position = 0 }
                noiseState ^= noiseState << 13; noiseState ^= noiseState >> 7; noiseState ^= noiseState << 17   // xorshift
                var x = noiseLevel * (Float(noiseState >> 40) / Float(1 << 23) - 1)
                if position < clip.count { x += clip[position]; position += 1 }
                buffer[i] = x
            }
            delivered += count
            return count
        }
    }

    public func close() { lock.withLock { stopped = true } }
}
