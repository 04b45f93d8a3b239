import Atomics

/// Lock-free single-producer/single-consumer ring of Float samples.
///
/// The only meeting point between an audio thread and the rest of Confab: one thread calls the
/// producer methods (`write`), one other thread the consumer methods (`read`, `discardAll`).
/// Storage is allocated once at init (capacity rounded up to a power of two, so positions wrap with a mask);
/// `read`/`write` never allocate, lock or block.
///
/// Positions are monotonically increasing sample counts (64-bit: they never wrap in practice);
/// `writePosition - readPosition` is the fill level. The producer publishes samples with a release store
/// of `writePosition` after copying them in; the consumer acquires it before copying them out (and the
/// mirror image for freed space), so a reader never sees a slot before its data.
public final class SPSCRingBuffer: @unchecked Sendable {
    public let capacity: Int
    private let mask: Int
    private let storage: UnsafeMutablePointer<Float>
    private let writePos = ManagedAtomic<Int>(0)    // advanced only by the producer
    private let readPos = ManagedAtomic<Int>(0)     // advanced only by the consumer

    /// - Parameter minimumCapacity: rounded up to the next power of two (at least 2).
    public init(minimumCapacity: Int) {
        var c = 2
        while c < minimumCapacity { c <<= 1 }
        capacity = c
        mask = c - 1
        storage = .allocate(capacity: c)
        storage.initialize(repeating: 0, count: c)
    }

    deinit { storage.deallocate() }

    /// Samples ready for the consumer (exact for the consumer, a lower bound for anyone else).
    public var availableToRead: Int {
        writePos.load(ordering: .acquiring) - readPos.load(ordering: .relaxed)
    }

    /// Free slots for the producer (exact for the producer, a lower bound for anyone else).
    public var availableToWrite: Int {
        capacity - (writePos.load(ordering: .relaxed) - readPos.load(ordering: .acquiring))
    }

    /// Total samples ever written / read (monotonic counters; useful to locate a sample in time).
    public var totalWritten: Int { writePos.load(ordering: .acquiring) }
    public var totalRead: Int { readPos.load(ordering: .acquiring) }

    /// Producer: copies as many samples as fit; returns how many were written.
    @discardableResult
    public func write(_ src: UnsafePointer<Float>, count: Int) -> Int {
        let w = writePos.load(ordering: .relaxed)
        let r = readPos.load(ordering: .acquiring)
        let n = min(count, capacity - (w - r))
        if n <= 0 { return 0 }
        let start = w & mask
        let first = min(n, capacity - start)
        (storage + start).update(from: src, count: first)
        if first < n { storage.update(from: src + first, count: n - first) }
        writePos.store(w + n, ordering: .releasing)
        return n
    }

    @discardableResult
    public func write(_ src: UnsafeBufferPointer<Float>) -> Int {
        guard let base = src.baseAddress else { return 0 }
        return write(base, count: src.count)
    }

    /// Consumer: copies up to `count` samples out; returns how many were read.
    @discardableResult
    public func read(into dst: UnsafeMutablePointer<Float>, count: Int) -> Int {
        let r = readPos.load(ordering: .relaxed)
        let w = writePos.load(ordering: .acquiring)
        let n = min(count, w - r)
        if n <= 0 { return 0 }
        let start = r & mask
        let first = min(n, capacity - start)
        dst.update(from: storage + start, count: first)
        if first < n { (dst + first).update(from: storage, count: n - first) }
        readPos.store(r + n, ordering: .releasing)
        return n
    }

    @discardableResult
    public func read(into dst: UnsafeMutableBufferPointer<Float>) -> Int {
        guard let base = dst.baseAddress else { return 0 }
        return read(into: base, count: dst.count)
    }

    /// Consumer: drops everything currently readable (used to flush playback at once); returns how many.
    @discardableResult
    public func discardAll() -> Int {
        let r = readPos.load(ordering: .relaxed)
        let w = writePos.load(ordering: .acquiring)
        readPos.store(w, ordering: .releasing)
        return w - r
    }
}
