import Atomics
import CKernels
import Foundation

/// Fork-join over the engine threads with workers that spin briefly before sleeping.
///
/// A language model's decode step is ~200 small matrix products of 20-200 µs each. Waking a GCD worker
/// through the kernel for each one (`EngineThreads.parallelChunks`) cost a quarter of SmolLM2's decode time in
/// futex wake-ups. Here the workers spin on a counter for `spinMicroseconds` after each job, so back-to-back jobs
/// start at once, then sleep on a condition (idle between replies costs nothing).
public final class SpinningPool: @unchecked Sendable {
    public static let shared = SpinningPool()

    public var spinMicroseconds: UInt64 = 300
    private let generation = ManagedAtomic<Int>(0)
    private let pending = ManagedAtomic<Int>(0)
    private let cond = NSCondition()
    private let serial = NSLock()
    private var job: ((Int) -> Void)?
    private var jobParts = 0          // workers with index < jobParts run the job
    private var started = 0           // worker threads running (their indices are 1...started)
    // Contention (guarded by `serial`): see `run`.
    private var lateJoins = 0
    private var soloUntil: UInt64 = 0

    /// A join is late when the workers finish this long after the caller's own part (and later than the part took).
    static let lateJoinNanoseconds: UInt64 = 300_000
    /// Late joins in a row (net of timely ones) that make the pool run its jobs on the caller alone, and for how long
    /// before it tries the workers again.
    static let lateJoinsForSolo = 4
    static let soloNanoseconds: UInt64 = 250_000_000
    /// Jobs run on the caller alone so far because the workers were late (for tests and benchmarks).
    public private(set) var soloJobs = 0

    /// The engine uses `shared`; tests make their own.
    init() {}

    /// Splits 0..<n into at most EngineThreads.count contiguous chunks and runs them at once (the caller runs one).
    public func parallelChunks(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = min(EngineThreads.count, max(1, n / max(minChunk, 1)))
        if parts <= 1 { body(0..<n); return }
        let per = (n + parts - 1) / parts
        run(parts) { w in
            let lo = w * per, hi = min(n, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Calls body(0) on this thread and body(1..<parts) on the workers; returns when all are done.
    ///
    /// On a machine whose cores are busy with other programs' work, a worker is often descheduled when a job comes,
    /// and the caller waits a scheduler time slice (milliseconds) at a join of a 50 µs job: beside four CPU-bound
    /// processes a 1.5B decode step took ~400 ms instead of ~50. So when joins keep coming late, the pool runs every
    /// part on the caller, one after the other (the same parts, so the same results), for a quarter of a second,
    /// then tries the workers again.
    public func run(_ parts: Int, _ body: (Int) -> Void) {
        serial.lock(); defer { serial.unlock() }
        runHoldingLock(parts, body)
    }

    /// `run`, unless the pool is busy: called from inside one of its jobs (which would wait for itself) or while
    /// another thread's job runs, it returns false at once without calling `body`.
    public func tryRun(_ parts: Int, _ body: (Int) -> Void) -> Bool {
        guard serial.try() else { return false }
        defer { serial.unlock() }
        runHoldingLock(parts, body)
        return true
    }

    private func runHoldingLock(_ parts: Int, _ body: (Int) -> Void) {
        let start = DispatchTime.now().uptimeNanoseconds
        if start < soloUntil {
            soloJobs += 1
            for w in 0..<parts { body(w) }
            return
        }
        ensureWorkers(parts - 1)
        withoutActuallyEscaping(body) { b in
            // the body itself, not a closure wrapped around it (that was a heap allocation per job)
            job = b
            jobParts = parts
            pending.store(started, ordering: .relaxed)
            cond.lock()
            generation.wrappingIncrement(ordering: .releasing)
            cond.broadcast()
            cond.unlock()
            b(0)
            let own = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                confab_pause()
                spins += 1
                if spins & 1023 == 0 { sched_yield() }   // a descheduled worker on a busy machine
            }
            job = nil
            let end = DispatchTime.now().uptimeNanoseconds
            let waited = end - own, ownPart = own - start
            if waited > Self.lateJoinNanoseconds && waited > ownPart {
                lateJoins += 1
                if lateJoins >= Self.lateJoinsForSolo { lateJoins = 0; soloUntil = end + Self.soloNanoseconds }
            } else if lateJoins > 0 {
                lateJoins -= 1
            }
        }
    }

    private func ensureWorkers(_ n: Int) {
        while started < n {
            started += 1
            let index = started
            let seen = generation.load(ordering: .acquiring)
            let t = Thread { [self] in workerLoop(index, seen) }
            t.name = "confab-engine-\(index)"
            t.stackSize = 1 << 20
            t.start()
        }
    }

    private func workerLoop(_ index: Int, _ start: Int) {
        ProcessPriority.raiseCurrentThread()
        var seen = start
        while true {
            // spin, then sleep until the next job
            let t0 = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                confab_pause()
                spins += 1
                if spins & 255 == 0, DispatchTime.now().uptimeNanoseconds - t0 > spinMicroseconds * 1000 {
                    cond.lock()
                    while generation.load(ordering: .acquiring) == seen { cond.wait() }
                    cond.unlock()
                }
            }
            seen = generation.load(ordering: .acquiring)
            if index < jobParts { job?(index) }
            pending.wrappingDecrement(ordering: .releasing)
        }
    }
}
