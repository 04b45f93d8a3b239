/// The two audio endpoints the conversation needs, kept as small as an ALSA ring-buffer player
/// and capture naturally offer, so the pipeline runs offline (tests, files) and live alike.
/// At merge time ALSAPlayer/ALSACapture are adapted to these in a few lines each.

/// Where the assistant's voice goes: a playback ring buffer in front of the device.
///
/// Positions are counted in samples of *enqueued* audio: `samplesPlayed` is how many of the samples
/// given to `enqueue` have been handed to the device so far (silence the player writes by itself
/// when its ring runs dry is not counted). The conversation uses it to know which part of a reply
/// was actually heard (barge-in), when a reply has finished playing, and which samples to feed the
/// echo canceller as the far end.
public protocol PlaybackSink: AnyObject, Sendable {
    /// Mono samples per second; the conversation resamples synthesized speech to this rate.
    var sampleRate: Int { get }
    /// Appends mono float samples in [-1, 1] to the queue; never blocks for long, never drops queued audio.
    func enqueue(_ samples: UnsafeBufferPointer<Float>)
    /// Drops everything still queued and goes silent at once. When `stop` returns, `samplesPlayed`
    /// is final for the dropped audio (no more of it will be handed to the device); later `enqueue`
    /// calls continue counting from there.
    func stop()
    /// Total samples of enqueued audio handed to the device since the sink was created.
    var samplesPlayed: Int { get }
    /// The reply is complete: what is queued plays out and the sink may go idle (running dry after it is
    /// no underrun). Later `enqueue`s play as usual.
    func endOfReply()
    /// Mono samples that can be queued ahead of the device without `enqueue` waiting (Int.max: no limit).
    var queueCapacity: Int { get }
}

extension PlaybackSink {
    public func endOfReply() {}
    public var queueCapacity: Int { .max }
}

/// Where the user's voice comes from: fixed-size frames of mono capture at `sampleRate`.
public protocol CaptureFrameSource: AnyObject, Sendable {
    var sampleRate: Int { get }
    /// Blocks until `count` samples are written to `buffer` and returns `count`; returns fewer
    /// (possibly 0) only at the end of the stream (end of file, device closed or `close` called).
    func read(into buffer: UnsafeMutablePointer<Float>, count: Int) -> Int
    /// Ends the stream: a blocked or later `read` returns at once. (Named apart from
    /// `PlaybackSink.stop()` so one full-duplex object may serve as both.)
    func close()
}
