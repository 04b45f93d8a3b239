import Atomics
import CKernels
import COpenBLAS
import Foundation

/// How many threads the engine's matrix products use (`--threads`). OpenBLAS itself always runs on one
/// thread: products are shared out over `SpinningPool` by `sgemm` (Gemm.swift) and the engine's own kernels,
/// so no second set of worker threads competes with them and the audio threads for two cores.
public enum EngineThreads {
    nonisolated(unsafe) private static var current = 1

    public static var count: Int { current }

    public static func configure(_ n: Int?) {
        let wanted = max(1, n ?? ProcessInfo.processInfo.activeProcessorCount)
        current = wanted
        openblas_set_num_threads(1)
        // CONFAB_VNNI=0 keeps the language model's quantized kernels on their AVX2 paths (same results; for
        // comparing speed, or a CPU whose AVX-512 misbehaves).
        if ProcessInfo.processInfo.environment["CONFAB_VNNI"] == "0" { _ = confab_vnni(0) }
    }

    /// Splits `0..<n` into at most `count` contiguous chunks run in parallel.
    @inline(__always)
    public static func parallelChunks(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = min(current, max(1, n / max(minChunk, 1)))
        if workers <= 1 { body(0..<n); return }
        let per = (n + workers - 1) / workers
        // The chunks are disjoint, so sharing the (non-Sendable) body across workers is safe.
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            if w > 0 { ProcessPriority.raiseCurrentThread() }   // libdispatch's workers start at their QoS's nice
            let lo = w * per, hi = min(n, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Speech synthesis ahead of playback is work a listener is waiting for; the language model writing ahead of
/// speech is not. Run at once on two cores, the two stall each other: each splits its products over every core
/// and waits for the slowest part, and a part preempted by the other stage holds up the whole product (a first
/// sentence's synthesis took 260–340 ms instead of ~55 while the model went on writing numbers). So the model
/// waits before its next token while speech is being synthesized; it is far ahead of playback.
///
/// A sentence reaches the synthesizer through two task hops after the token that completed it, and by then the model
/// had started its next token (~50 ms with the 1.5B model) beside the synthesis of the reply's first words. So the
/// work is counted from the moment it is handed over (`begin`, before it is queued), and after a token that may
/// complete a sentence or clause the model gives the hand-over a moment to arrive (`expect`).
public enum ForegroundWork {
    private static let running = ManagedAtomic<Int>(0)

    /// Foreground work handed over now and run later (queued): counts from now until `end()`.
    public static func begin() { running.wrappingIncrement(ordering: .relaxed) }
    public static func end() { running.wrappingDecrement(ordering: .relaxed) }

    /// Runs `body` (synthesis) with background work held back.
    public static func run<T>(_ body: () throws -> T) rethrows -> T {
        begin()
        defer { end() }
        return try body()
    }

    /// Background work (the next token) waits here while foreground work runs, or until `isCancelled`.
    public static func yield(isCancelled: () -> Bool) {
        while running.load(ordering: .relaxed) > 0 && !isCancelled() { usleep(250) }
    }

    /// Waits up to `microseconds` for foreground work to be handed over (returns at once if some is), then yields
    /// to it: for the moment after text that may complete what a listener waits for.
    public static func expect(microseconds: Int, isCancelled: () -> Bool) {
        var waited = 0
        while running.load(ordering: .relaxed) == 0 && waited < microseconds && !isCancelled() { usleep(100); waited += 100 }
        yield(isCancelled: isCancelled)
    }
}
