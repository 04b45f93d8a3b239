import XCTest
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
}
