// The two audio capabilities the rest of Confab uses. Everything else in AudioIO serves these.

/// Plays Float samples through a device, in real time, from a ring buffer filled by the caller.
///
/// Open with the default type: `let out = try ALSAPlayer(device: "default", sampleRate: 22050)`
/// (`sampleRate` here is the rate the device actually runs at, which may differ from the one asked
/// for: resample to it). Then `enqueue` audio as it is produced, `drain()` at the end of an utterance,
/// `stop()` to cut it off at once (barge-in).
public protocol AudioPlaying: AnyObject, Sendable {
    /// Rate the enqueued samples must have (the device's negotiated rate).
    var sampleRate: Int { get }
    /// Samples per frame in `enqueue` (interleaved).
    var channels: Int { get }

    /// Copies interleaved samples into the ring, waiting (never dropping) while it is full. Returns the
    /// samples accepted: all of them, or fewer if `stop()` was called meanwhile. Throws if the device failed.
    @discardableResult func enqueue(_ samples: UnsafeBufferPointer<Float>) throws -> Int

    /// Samples the ring holds: an `enqueue` of more than is free waits for the device.
    var queueCapacity: Int { get }

    /// Waits until everything enqueued so far has been played (then the device idles until the next enqueue).
    func drain() throws

    /// Like `drain`, without waiting: what is queued plays out, then the device idles, and the ring running
    /// dry meanwhile is the end of the stream, not an underrun. Audio enqueued later plays as usual.
    func endOfStream()

    /// Discards everything queued (in the ring and in the device) at once; returns within about a period.
    /// The player stays open: later `enqueue`s play normally. Stop the producing thread first: samples
    /// enqueued concurrently with `stop()` may still play.
    func stop()

    /// Counters and timestamps from the audio thread (lock-free reads).
    var counters: PlaybackCounters { get }
    /// Level (RMS/peak) of the audio most recently handed to the device.
    var level: LevelReading { get }

    /// Arms the first-sound probe: the audio thread will stamp (CLOCK_MONOTONIC, `AudioClock.nanoseconds()`)
    /// the moment it hands the device the first period containing a non-silent sample (|x| > 1e-4).
    func armFirstSoundProbe()
    /// That stamp, once it happened (nil while armed and waiting, or never armed).
    var firstSoundHandedAt: UInt64? { get }

    /// Stops the audio thread and closes the device (also done on deinit).
    func close()

    /// The device error that stopped the audio thread, if it stopped working (unplugged, I/O error).
    var deviceFailure: AudioDeviceError? { get }
}

extension AudioPlaying {
    public var deviceFailure: AudioDeviceError? { nil }

    @discardableResult public func enqueue(_ samples: [Float]) throws -> Int {
        try samples.withUnsafeBufferPointer { try enqueue($0) }
    }
}

/// Records mono Float samples from a device into a ring buffer the caller drains.
///
/// `let mic = try ALSACapture(device: "default", sampleRate: 16000); try mic.start()`, then call
/// `read(into:)` regularly (the ring holds `ALSAOptions.ringSeconds`; audio that does not fit is dropped
/// and counted as an overrun).
public protocol AudioCapturing: AnyObject, Sendable {
    /// Rate of the samples delivered (the device's negotiated rate).
    var sampleRate: Int { get }
    /// Starts capturing (a no-op if already running).
    func start() throws
    /// Copies out up to `buffer.count` captured samples without waiting; returns how many.
    /// Throws if the device failed.
    func read(into buffer: UnsafeMutableBufferPointer<Float>) throws -> Int
    /// Stops capturing; samples already captured can still be read.
    func stop()
    var counters: CaptureCounters { get }
    /// Level (RMS/peak) of the most recent captured audio.
    var level: LevelReading { get }
    /// Stops and closes the device (also done on deinit).
    func close()
}

extension AudioCapturing {
    /// Reads whatever is available now (at most `maximum` samples).
    public func readAvailable(maximum: Int = 1 << 16) throws -> [Float] {
        var out = [Float](repeating: 0, count: maximum)
        let n = try out.withUnsafeMutableBufferPointer { try read(into: $0) }
        out.removeLast(maximum - n)
        return out
    }
}

public struct PlaybackCounters: Sendable, Equatable {
    /// Times the ring ran dry while playing (each starved stretch counts once; silence was played).
    public var underruns = 0
    /// Frames of silence inserted for those underruns.
    public var underrunFrames = 0
    /// Device xruns recovered with snd_pcm_recover.
    public var xruns = 0
    /// Frames written to the device (including silence padding).
    public var framesWritten = 0
    /// Enqueued samples handed to the device (not counting silence or samples discarded by stop()).
    public var samplesHanded = 0
    /// Samples ever enqueued.
    public var samplesEnqueued = 0
    /// The device's delay (frames queued ahead of the speaker) after the last write.
    public var delayFrames = 0
}

public struct CaptureCounters: Sendable, Equatable {
    /// Frames read from the device.
    public var framesCaptured = 0
    /// Device xruns recovered with snd_pcm_recover.
    public var xruns = 0
    /// Times the ring was full and captured audio was dropped; and how many samples.
    public var overruns = 0
    public var droppedSamples = 0
}
