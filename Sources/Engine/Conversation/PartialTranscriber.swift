import Foundation

/// Partial transcripts of speech still in progress, for the conversation and for dictation alike: the caller (its
/// capture thread) hands over the utterance so far whenever `isDue`; it is recognized in a low-priority task and its
/// words are published, unless `stop()` came first. At most one recognition runs at a time (`isRunning`: the caller
/// starts none while it, or anything else, keeps the CPU busy), and `stop()` cancels it at once (the recognizer
/// stops at its next layer or step) and silences it: nothing is published for an utterance after its speech paused
/// or ended, so the words so far never arrive after the final transcript.
///
/// Positions are on the caller's capture timeline (samples read so far). `isDue`, `restart`, `start` and `stop` are
/// for one thread (the capture thread); `isRunning` for any.
public final class PartialTranscriber: @unchecked Sendable {
    /// Samples of new audio between two partials (0.5 s by default).
    public let interval: Int
    /// Shortest utterance so far worth recognizing (0.5 s).
    public let shortest: Int
    private let recognize: @Sendable ([Float]) throws -> String
    private let publish: @Sendable (String) -> Void
    private let published: @Sendable (String) -> Void
    private let lock = NSLock()
    private var running = false        // guarded by `lock`
    private var generation = 0         // guarded by `lock`: a newer one silences a recognition still running
    private var task: Task<Void, Never>?
    private var from = 0

    /// - Parameters:
    ///   - sampleRate: the capture timeline's rate.
    ///   - interval: seconds of audio between two partials.
    ///   - recognize: the words in the samples (called in a detached task, one at a time; may throw
    ///     `CancellationError` when the task is cancelled).
    ///   - publish: called with the words of a current partial, under the lock that `stop()` takes, so a partial is
    ///     either published before `stop()` returns or never.
    ///   - published: then called outside that lock (e.g. to prefill a language model with the words).
    public init(sampleRate: Int, interval: Double, frameSize: Int = 1,
                recognize: @escaping @Sendable ([Float]) throws -> String,
                publish: @escaping @Sendable (String) -> Void,
                published: @escaping @Sendable (String) -> Void = { _ in }) {
        self.interval = max(frameSize, Int(interval * Double(sampleRate)))
        shortest = sampleRate / 2
        self.recognize = recognize; self.publish = publish; self.published = published
    }

    /// A recognition is in flight.
    public var isRunning: Bool { lock.withLock { running } }

    /// At `position`, `interval` of audio has come in since the last partial started (or since `restart`).
    public func isDue(at position: Int) -> Bool { position - from >= interval }

    /// Speech began or went on after a pause at `position`: the next partial is due `interval` later.
    public func restart(at position: Int) { from = position }

    /// Recognizes `samples` (the utterance so far, read up to `position`) in the background. Utterances shorter than
    /// `shortest` are left for later.
    public func start(_ samples: [Float], at position: Int) {
        guard samples.count >= shortest else { return }
        let recognize = recognize
        launch(at: position) { try? recognize(samples) }
    }

    /// Takes over a recognition of the utterance so far that was started elsewhere (the conversation's, at a pause
    /// in speech, for the reply it would make) and is no longer wanted for that because the user went on: its words
    /// are published as a partial, unless `stop()` or `silence()` comes first. `stop()` also cancels it.
    public func adopt(_ recognition: Task<String, Error>, at position: Int) {
        stop()
        launch(at: position) {
            try? await withTaskCancellationHandler { try await recognition.value } onCancel: { recognition.cancel() }
        }
    }

    /// Runs `words` in a low-priority task and publishes what it returns, unless `stop()` or `silence()` came first.
    private func launch(at position: Int, _ words: @escaping @Sendable () async -> String?) {
        from = position
        let current = lock.withLock { () -> Int in running = true; return generation }
        let (publish, published) = (publish, published)
        task = Task.detached(priority: .utility) { [self] in
            let text = await words()
            let shown = lock.withLock { () -> Bool in
                running = false
                guard let text, !text.isEmpty, current == generation, !Task.isCancelled else { return false }
                publish(text)
                return true
            }
            if shown, let text { published(text) }
        }
    }

    /// The speech paused, ended or was dropped: the recognition in flight (if any) is cancelled and never published.
    public func stop() {
        guard let t = task else { return }
        t.cancel()
        task = nil
        lock.withLock { generation += 1 }
    }

    /// Like `stop()`, but an adopted recognition goes on for its first owner (the turn that uses it); only its
    /// publication as a partial is cancelled.
    public func silence() {
        guard task != nil else { return }
        task = nil
        lock.withLock { generation += 1 }
    }
}
