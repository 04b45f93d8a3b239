import AudioIO
import Foundation

/// The conversation's speaker on a real device: an `AudioPlaying` (ALSAPlayer by default) seen as a
/// `PlaybackSink`. Positions count enqueued samples handed to the device, as the pipeline expects.
public final class DevicePlaybackSink: PlaybackSink, @unchecked Sendable {
    public let player: any AudioPlaying
    private let onError: @Sendable (String) -> Void
    private let reported = NSLock()
    private var failed = false
    /// Samples given to `enqueue` (whether the device took them or not).
    private var accepted = 0

    /// - Parameter onError: called once, with the device's one-line error, when it stops working. From then on
    ///   the replies' audio is dropped (counted as played, so a reply still ends) and the conversation goes on.
    public init(_ player: any AudioPlaying, onError: @escaping @Sendable (String) -> Void = { _ in }) {
        self.player = player; self.onError = onError
    }

    public var sampleRate: Int { player.sampleRate }

    public func enqueue(_ samples: UnsafeBufferPointer<Float>) {
        reported.withLock { accepted += samples.count }
        if reported.withLock({ failed }) { return }
        do { try player.enqueue(samples) } catch { report("\(error)") }
    }

    /// Reports a dead device once; the conversation goes on (the text is still shown).
    private func report(_ message: String) {
        let first = reported.withLock { () -> Bool in defer { failed = true }; return !failed }
        if first { onError(message) }
    }

    /// True once the device stopped working (reported through `onError`).
    public var hasFailed: Bool { reported.withLock { failed } }

    public func stop() { player.stop() }
    public func endOfReply() { player.endOfStream() }
    /// Samples handed to the device; once it failed, everything enqueued (nothing more will ever be handed on,
    /// and a reply waiting to be heard to its end must not wait forever).
    public var samplesPlayed: Int {
        if !reported.withLock({ failed }), let error = player.deviceFailure { report("\(error)") }
        if reported.withLock({ failed }) { return reported.withLock { accepted } }
        return player.counters.samplesHanded
    }
    public var queueCapacity: Int { player.queueCapacity / max(1, player.channels) }
}

/// The conversation's microphone on a real device: an `AudioCapturing` (ALSACapture by default) read
/// in whole frames. `muted` delivers silence instead of the microphone (the device keeps running,
/// so unmuting is instant and nothing queues up meanwhile).
public final class DeviceCaptureSource: CaptureFrameSource, @unchecked Sendable {
    public let capture: any AudioCapturing
    private let stopped = NSLock()
    private var isStopped = false
    private var _muted = false
    private var failed = false
    private let onError: @Sendable (String) -> Void

    public init(_ capture: any AudioCapturing, onError: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.capture = capture; self.onError = onError
        try capture.start()
    }

    public var sampleRate: Int { capture.sampleRate }

    /// True once the device stopped working (reported once through `onError`; the stream has ended).
    public var hasFailed: Bool { stopped.withLock { failed } }

    public var muted: Bool {
        get { stopped.withLock { _muted } }
        set { stopped.withLock { _muted = newValue } }
    }

    public func read(into buffer: UnsafeMutablePointer<Float>, count: Int) -> Int {
        var filled = 0
        // Waits a fraction of the frame between polls: the capture thread fills the ring every period.
        let pause = max(1000, Int(Double(count) / Double(max(sampleRate, 1)) * 250_000))
        while filled < count {
            if stopped.withLock({ isStopped || failed }) { return filled }
            do {
                let n = try capture.read(into: UnsafeMutableBufferPointer(start: buffer + filled, count: count - filled))
                filled += n
                if n == 0 { usleep(useconds_t(pause)) }
            } catch {
                // Said once: the stream ends here (every later read returns at once with nothing).
                let first = stopped.withLock { () -> Bool in defer { failed = true }; return !failed }
                if first { onError("\(error)") }
                return filled
            }
        }
        if muted { buffer.update(repeating: 0, count: count) }
        return filled
    }

    public func close() {
        stopped.withLock { isStopped = true }
        capture.stop()
    }
}
