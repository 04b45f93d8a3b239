import XCTest
import CKernels
import Foundation
@testable import Engine

/// The SIMD exp/GELU the Whisper encoder uses, against libm.
final class FastMathTests: XCTestCase {
    func testExp8MatchesLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let v = SIMD8<Float>((0..<8).map { x + Float($0) * 0.0137 })
            let e = exp8(v)
            for i in 0..<8 { worst = max(worst, abs(e[i] - expf(v[i])) / expf(v[i])) }
            x += 0.173
        }
        XCTAssertLessThan(worst, 4e-7)
        XCTAssertLessThan(exp8(SIMD8(repeating: -Float.infinity))[0], 1e-37)
    }

    func testFastSoftmaxAndGELUMatchReference() {
        var rng = LCG(state: 3)
        let n = 1501
        var a = (0..<n).map { _ in rng.next() * 20 }
        var b = a
        a.withUnsafeMutableBufferPointer { softmaxInPlaceFast($0.baseAddress!, count: n) }
        b.withUnsafeMutableBufferPointer { softmaxInPlace($0.baseAddress!, count: n) }
        for i in 0..<n { XCTAssertEqual(a[i], b[i], accuracy: 1e-6 * max(b[i], 1e-3)) }
        var g = (0..<1003).map { _ in rng.next() * 8 }
        var h = g
        g.withUnsafeMutableBufferPointer { geluInPlaceFast($0.baseAddress!, count: $0.count) }
        h.withUnsafeMutableBufferPointer { geluInPlace($0.baseAddress!, count: $0.count) }
        for i in g.indices { XCTAssertEqual(g[i], h[i], accuracy: 1e-6) }
    }

    /// Every GELU variant this CPU runs (AVX-512, AVX2, plain C) against the exact GELU in double precision on
    /// [−10, 10], far tails (no NaN: e^(−z²) underflows to 0), and every tail length of the vector loops.
    func testGELUVariantsMatchTheExactFunction() {
        let best = confab_gelu_best_variant()
        XCTAssertEqual(best, confab_cpu_vector_level())
        XCTAssertGreaterThanOrEqual(best, 1)        // AVX2 is the floor on x86-64
        let m = 200_001
        let xs = (0..<m).map { Float($0 - m / 2) * 0.0001 }
        var outs: [[Float]] = []
        for v in 0...best {
            var y = xs
            y.withUnsafeMutableBufferPointer { geluInPlaceFast($0.baseAddress!, count: $0.count, variant: v) }
            var worst = 0.0
            for i in 0..<m {
                let x = Double(xs[i])
                worst = max(worst, abs(Double(y[i]) - 0.5 * x * (1 + erf(x / 2.0.squareRoot()))))
            }
            XCTAssertLessThan(worst, 4e-7, "variant \(v)")
            var far: [Float] = [-1e30, -200, -30, 30, 200, 1e30, 0, -0.0]
            far.withUnsafeMutableBufferPointer { geluInPlaceFast($0.baseAddress!, count: $0.count, variant: v) }
            XCTAssertEqual(Array(far[3...]), [30, 200, 1e30, 0, 0], "variant \(v)")
            XCTAssertEqual(Array(far[..<3]).map(abs), [0, 0, 0], "variant \(v)")    // zero, not denormal (slow products after)
            XCTAssertFalse(y.contains { $0 != 0 && abs($0) < Float.leastNormalMagnitude }, "variant \(v): denormal output")
            outs.append(y)
        }
        var all = xs
        all.withUnsafeMutableBufferPointer { geluInPlaceFast($0.baseAddress!, count: $0.count) }
        XCTAssertEqual(all, outs[Int(best)])                   // the default is the best variant
        // tails: a prefix of every length gives the values the long run gave
        for v in 0...best {
            for n in 1...40 {
                var y = Array(xs[100_000..<(100_000 + n)])
                y.withUnsafeMutableBufferPointer { geluInPlaceFast($0.baseAddress!, count: n, variant: v) }
                XCTAssertEqual(y, Array(outs[Int(v)][100_000..<(100_000 + n)]), "variant \(v) n \(n)")
            }
        }
    }
}
