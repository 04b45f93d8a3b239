import COpenBLAS
import Foundation

/// How many threads the engine's matrix products use (`--threads`).
/// OpenBLAS's workers spin while idle after a multi-threaded call, which starves the
/// audio thread on a 2-core machine; OPENBLAS_THREAD_TIMEOUT keeps that spin short.
public enum EngineThreads {
    nonisolated(unsafe) private static var current = 1

    public static var count: Int { current }

    public static func configure(_ n: Int?) {
        let wanted = max(1, n ?? ProcessInfo.processInfo.activeProcessorCount)
        current = wanted
        openblas_set_num_threads(Int32(wanted))
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
            let lo = w * per, hi = min(n, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }
}
