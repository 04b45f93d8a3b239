import Foundation

/// The reply audio handed to playback, indexed by playback position, so the capture thread can give
/// the echo canceller exactly the samples the device played during each capture frame (the far end).
///
/// Positions match `PlaybackSink.samplesPlayed`: the writer appends every sample it enqueues, at the
/// position it will have in the sink's count; after `PlaybackSink.stop()` the dropped tail is
/// forgotten with `rewind(to:)`. One lock, taken once per frame or per enqueued chunk.
final class FarEndReference: @unchecked Sendable {
    private let buffer: UnsafeMutablePointer<Float>
    private let capacity: Int            // power of two
    private let lock = NSLock()
    private var end: Int                 // absolute position after the last written sample

    init(capacity minCapacity: Int, startPosition: Int) {
        var c = 1024
        while c < minCapacity { c *= 2 }
        capacity = c
        buffer = .allocate(capacity: c); buffer.initialize(repeating: 0, count: c)
        end = startPosition
    }

    deinit { buffer.deallocate() }

    var writtenEnd: Int { lock.withLock { end } }

    /// Appends samples at position `writtenEnd`; returns the position of the first.
    @discardableResult
    func append(_ x: UnsafeBufferPointer<Float>) -> Int {
        lock.withLock {
            let start = end
            for i in 0..<x.count { buffer[(start + i) & (capacity - 1)] = x[i] }
            end += x.count
            return start
        }
    }

    /// Forgets everything after `position` (audio dropped from the playback queue).
    func rewind(to position: Int) { lock.withLock { end = min(end, position) } }

    /// Fills out[0..<count] with the samples in positions [from, to) — the last `count` of them if
    /// there are more (device jitter) — followed by zeros (the device played silence after them).
    func frame(from: Int, to: Int, into out: UnsafeMutablePointer<Float>, count: Int) {
        lock.withLock {
            let hi = min(to, end)
            let lo = max(from, hi - count, end - capacity)
            var n = 0
            if hi > lo { for p in lo..<hi { out[n] = buffer[p & (capacity - 1)]; n += 1 } }
            while n < count { out[n] = 0; n += 1 }
        }
    }
}
