import Foundation
import XCTest
@testable import Engine

final class SpinningPoolTests: XCTestCase {
    /// Every part runs exactly once, whether on the workers or, under contention, on the caller alone.
    private func runRecording(_ pool: SpinningPool, parts: Int, slowWorker: Bool) -> (ran: [Int], threads: [pthread_t?]) {
        var ran = [Int](repeating: 0, count: parts)
        var threads = [pthread_t?](repeating: nil, count: parts)
        ran.withUnsafeMutableBufferPointer { r in
            threads.withUnsafeMutableBufferPointer { t in
                pool.run(parts) { w in
                    r[w] += 1
                    t[w] = pthread_self()
                    if slowWorker && w != 0 { usleep(2_000) }   // a worker that comes late to the join
                }
            }
        }
        return (ran, threads)
    }

    func testLateWorkersMakeThePoolRunPartsOnTheCallerThenTryWorkersAgain() {
        let pool = SpinningPool()
        let me = pthread_self()
        // timely joins: the parts run on other threads, no solo jobs
        for _ in 0..<20 {
            let (ran, threads) = runRecording(pool, parts: 2, slowWorker: false)
            XCTAssertEqual(ran, [1, 1])
            XCTAssertTrue(pthread_equal(threads[0]!, me) != 0)
            XCTAssertTrue(pthread_equal(threads[1]!, me) == 0)
        }
        XCTAssertEqual(pool.soloJobs, 0)
        // late joins, as many as make it go solo
        for _ in 0..<SpinningPool.lateJoinsForSolo {
            XCTAssertEqual(runRecording(pool, parts: 2, slowWorker: true).ran, [1, 1])
        }
        // now every part runs on the caller, once each (a jitter-late join before may have made it solo sooner)
        let before = pool.soloJobs
        let (ran, threads) = runRecording(pool, parts: 2, slowWorker: false)
        XCTAssertEqual(ran, [1, 1])
        XCTAssertTrue(threads.allSatisfy { pthread_equal($0!, me) != 0 })
        XCTAssertEqual(pool.soloJobs, before + 1)
        // and after the solo time the workers are used again
        usleep(UInt32(SpinningPool.soloNanoseconds / 1000) + 20_000)
        let after = runRecording(pool, parts: 2, slowWorker: false)
        XCTAssertEqual(after.ran, [1, 1])
        XCTAssertTrue(pthread_equal(after.threads[1]!, me) == 0)
        XCTAssertEqual(pool.soloJobs, before + 1)
    }

    func testSoloResultsAreTheWorkersResults() {
        // the same partition either way, so a chunked sum is bit-identical
        let pool = SpinningPool()
        let x = (0..<10_001).map { Float(sin(Double($0) * 0.37)) * 1e3 }
        func chunkedSums() -> [Float] {
            var sums = [Float](repeating: 0, count: 2)
            sums.withUnsafeMutableBufferPointer { s in
                pool.run(2) { w in
                    let per = (x.count + 1) / 2
                    var acc: Float = 0
                    for i in (w * per)..<min(x.count, (w + 1) * per) { acc += x[i] }
                    s[w] = acc
                }
            }
            return sums
        }
        for _ in 0..<10 { _ = runRecording(pool, parts: 2, slowWorker: false) }   // the workers' start is a late join
        let workers = chunkedSums()
        XCTAssertEqual(pool.soloJobs, 0)
        for _ in 0..<SpinningPool.lateJoinsForSolo { _ = runRecording(pool, parts: 2, slowWorker: true) }
        let before = pool.soloJobs
        let solo = chunkedSums()
        XCTAssertEqual(pool.soloJobs, before + 1)
        XCTAssertEqual(workers.map(\.bitPattern), solo.map(\.bitPattern))
    }
}
