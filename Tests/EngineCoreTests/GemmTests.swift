import COpenBLAS
import XCTest
@testable import Engine

/// `sgemm` (Gemm.swift) on two engine threads against a naive product: each transpose, a cut by columns, a cut by
/// rows, a product too small to cut, β = 1 into a C with a wider row stride, and calls from inside a pool job and
/// from two threads at once (which must run, not wait for each other).
final class GemmTests: XCTestCase {
    struct Case { let ta: Bool, tb: Bool, M: Int, N: Int, K: Int, beta: Float }

    /// C[i, j] = α Σk op(A)[i, k] op(B)[k, j] + β C[i, j]
    func naive(_ c: Case, _ A: [Float], lda: Int, _ B: [Float], ldb: Int, _ C: [Float], ldc: Int, alpha: Float) -> [Float] {
        var out = C
        for i in 0..<c.M {
            for j in 0..<c.N {
                var s: Double = 0
                for k in 0..<c.K {
                    let a = c.ta ? A[k * lda + i] : A[i * lda + k]
                    let b = c.tb ? B[j * ldb + k] : B[k * ldb + j]
                    s += Double(a) * Double(b)
                }
                out[i * ldc + j] = Float(Double(alpha) * s) + c.beta * C[i * ldc + j]
            }
        }
        return out
    }

    func check(_ c: Case, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var rng = NormalRNG(seed: seed)
        let lda = (c.ta ? c.M : c.K) + 3, ldb = (c.tb ? c.K : c.N) + 5, ldc = c.N + 7
        let A = (0..<((c.ta ? c.K : c.M) * lda)).map { _ in rng.next() }
        let B = (0..<((c.tb ? c.N : c.K) * ldb)).map { _ in rng.next() }
        var C = (0..<(c.M * ldc)).map { _ in rng.next() }
        let want = naive(c, A, lda: lda, B, ldb: ldb, C, ldc: ldc, alpha: 0.5)
        A.withUnsafeBufferPointer { a in B.withUnsafeBufferPointer { b in C.withUnsafeMutableBufferPointer { cp in
            sgemm(transA: c.ta, transB: c.tb, M: c.M, N: c.N, K: c.K, alpha: 0.5, a.baseAddress!, lda: lda,
                  b.baseAddress!, ldb: ldb, beta: c.beta, cp.baseAddress!, ldc: ldc)
        } } }
        var worst: Float = 0
        for i in 0..<c.M { for j in 0..<ldc { worst = max(worst, abs(C[i * ldc + j] - want[i * ldc + j])) } }
        XCTAssertLessThan(worst, 1e-3, "\(c)", file: file, line: line)
    }

    func testSplitProductsMatchANaiveProduct() {
        EngineThreads.configure(2)
        defer { EngineThreads.configure(1) }
        XCTAssertEqual(openblas_get_num_threads(), 1, "OpenBLAS stays single-threaded; sgemm shares the work")
        var seed: UInt64 = 1
        for ta in [false, true] {
            for tb in [false, true] {
                for (M, N, K) in [(40, 200, 96),   // cut by columns (N ≥ 32)
                                  (300, 20, 100),  // cut by rows (N < 32)
                                  (7, 9, 11),      // too small to cut
                                  (64, 33, 300)] { // columns, uneven halves
                    for beta: Float in [0, 1] {
                        check(Case(ta: ta, tb: tb, M: M, N: N, K: K, beta: beta), seed: seed)
                        seed += 1
                    }
                }
            }
        }
    }

    func testCallsFromInsideAPoolJobAndFromTwoThreadsRun() {
        EngineThreads.configure(2)
        defer { EngineThreads.configure(1) }
        // Inside a job the pool is held: the product runs in one piece instead of waiting for itself.
        SpinningPool.shared.run(2) { i in
            self.check(Case(ta: false, tb: true, M: 64, N: 128, K: 80, beta: 0), seed: 100 + UInt64(i))
        }
        // Two threads at once: one gets the pool, the other runs alone; both right.
        nonisolated(unsafe) let test = self
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            for r in 0..<5 { test.check(Case(ta: true, tb: false, M: 96, N: 160, K: 64, beta: 1), seed: 200 + UInt64(10 * i + r)) }
        }
    }
}
