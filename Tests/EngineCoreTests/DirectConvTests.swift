import CKernels
import XCTest
@testable import Engine

/// The direct convolution kernels (CKernels/conv.c) at every level this CPU runs, against a naive Conv1d:
/// dilation, padding, tails shorter than a vector, output counts that are not a multiple of 8, and each
/// fused store (bias, residual, accumulate, leaky ReLU).
final class DirectConvTests: XCTestCase {
    var levels: [Int] { Array(0...ConvKernelLevel.detected) }

    func naive(_ x: [Float], cin: Int, T: Int, w: [Float], b: [Float], cout: Int, K: Int, d: Int, pad: Int) -> [Float] {
        var y = [Float](repeating: 0, count: cout * T)
        for o in 0..<cout {
            for t in 0..<T {
                var s = b[o]
                for c in 0..<cin {
                    for k in 0..<K {
                        let i = t - pad + k * d
                        if i >= 0 && i < T { s += w[(o * cin + c) * K + k] * x[c * T + i] }
                    }
                }
                y[o * T + t] = s
            }
        }
        return y
    }

    func testEveryLevelMatchesNaiveConvolution() {
        XCTAssertGreaterThanOrEqual(ConvKernelLevel.detected, 1, "x86-64 with AVX2 is the floor")
        var rng = NormalRNG(seed: 5)
        // (cin, cout, K, dilation, T)
        // (32, 44, 5, 2, 80): too short to share by time on 2 threads, so shared by runs of 8-channel blocks, the
        // last one partial
        for (cin, cout, K, d, T) in [(3, 16, 3, 1, 50), (8, 5, 5, 2, 17), (4, 1, 7, 1, 130), (16, 24, 7, 12, 97), (2, 8, 1, 1, 3),
                                     (32, 44, 5, 2, 80)] {
            let pad = d * (K - 1) / 2
            let x = (0..<(cin * T)).map { _ in rng.next() }
            let w = (0..<(cout * cin * K)).map { _ in rng.next() * 0.3 }
            let b = (0..<cout).map { _ in rng.next() }
            let res = (0..<(cout * T)).map { _ in rng.next() }
            let want = naive(x, cin: cin, T: T, w: w, b: b, cout: cout, K: K, d: d, pad: pad)
            let conv = w.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in
                DirectConv(weight: wp.baseAddress!, bias: bp.baseAddress!, outChannels: cout, inChannels: cin, kernel: K,
                           dilation: d, padding: pad) } }
            if cout == 44 { XCTAssertEqual(conv.split(length: T, threads: 2), .channels(2)) }
            if cout == 24 { XCTAssertEqual(conv.split(length: T, threads: 2), .none) }
            if T == 130 { XCTAssertEqual(conv.split(length: T, threads: 2), .none) }
            // halo layout
            let hl = conv.leftHalo, ld = hl + T + conv.rightHalo + 16
            var xh = [Float](repeating: 0, count: cin * ld + 64)
            for c in 0..<cin { for t in 0..<T { xh[c * ld + hl + t] = x[c * T + t] } }
            for level in levels {
                for threads in [1, 2] {
                    EngineThreads.configure(threads)
                    var y = [Float](repeating: 7, count: cout * T)
                    var acc = [Float](repeating: 1, count: cout * T)
                    var act = [Float](repeating: 0, count: cout * T)
                    xh.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { yp in
                            // plain: y = conv(x) + b
                            conv.apply(xp.baseAddress! + hl, ldx: ld, length: T, out: confab_conv_out(
                                bias: nil, res: nil, ldr: 0, y: yp.baseAddress!, ldy: T, accumulate: 0, act: nil, lda: 0, slope: 0), level: level)
                        }
                        res.withUnsafeBufferPointer { rp in acc.withUnsafeMutableBufferPointer { ap in act.withUnsafeMutableBufferPointer { lp in
                            // fused: acc += conv(x) + b + res; act = leaky_relu(conv(x) + b + res)
                            conv.apply(xp.baseAddress! + hl, ldx: ld, length: T, out: confab_conv_out(
                                bias: nil, res: rp.baseAddress!, ldr: T, y: ap.baseAddress!, ldy: T, accumulate: 1,
                                act: lp.baseAddress!, lda: T, slope: 0.1), level: level)
                        } } }
                    }
                    for i in 0..<(cout * T) {
                        XCTAssertEqual(y[i], want[i], accuracy: 1e-4, "level \(level) cin \(cin) cout \(cout) K \(K) d \(d) T \(T) at \(i)")
                        let v = want[i] + res[i]
                        XCTAssertEqual(acc[i], 1 + v, accuracy: 1e-4, "level \(level) accumulate at \(i)")
                        XCTAssertEqual(act[i], v > 0 ? v : 0.1 * v, accuracy: 1e-4, "level \(level) leaky ReLU at \(i)")
                    }
                }
            }
        }
        EngineThreads.configure(1)
    }

    func testVectorLevelsAgreeWithPlainLevelOnALongSignal() {
        // A HiFi-GAN-sized block (32 channels, K 7, dilation 3) over 1000 steps, split over 2 threads.
        var rng = NormalRNG(seed: 9)
        let cin = 32, cout = 32, K = 7, d = 3, T = 1000, pad = 9
        let w = (0..<(cout * cin * K)).map { _ in rng.next() * 0.1 }
        let conv = w.withUnsafeBufferPointer {
            DirectConv(weight: $0.baseAddress!, bias: nil, outChannels: cout, inChannels: cin, kernel: K, dilation: d, padding: pad)
        }
        let hl = conv.leftHalo, ld = hl + T + conv.rightHalo
        var xh = [Float](repeating: 0, count: cin * ld)
        for c in 0..<cin { for t in 0..<T { xh[c * ld + hl + t] = rng.next() } }
        func run(_ level: Int) -> [Float] {
            var y = [Float](repeating: 0, count: cout * T)
            xh.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                conv.apply(xp.baseAddress! + hl, ldx: ld, length: T, out: confab_conv_out(
                    bias: nil, res: nil, ldr: 0, y: yp.baseAddress!, ldy: T, accumulate: 0, act: nil, lda: 0, slope: 0), level: level)
            } }
            return y
        }
        EngineThreads.configure(2)
        defer { EngineThreads.configure(1) }
        XCTAssertEqual(conv.split(length: T, threads: 2), .time(2))
        let plain = run(0)
        XCTAssertGreaterThan(plain.map(abs).max() ?? 0, 0.5)
        for level in levels.dropFirst() {
            let v = run(level)
            var worst: Float = 0
            for i in 0..<v.count { worst = max(worst, abs(v[i] - plain[i])) }
            XCTAssertLessThan(worst, 1e-4, "level \(level)")
        }
    }
}
