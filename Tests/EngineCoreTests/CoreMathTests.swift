import XCTest
@testable import Engine

final class CoreMathTests: XCTestCase {
    func testLinearMatchesNaive() {
        let T = 3, I = 5, O = 4
        let x = (0..<(T * I)).map { Float($0 % 7) - 3 }
        let w = (0..<(O * I)).map { Float(($0 * 5) % 11) / 10 - 0.5 }
        let b = (0..<O).map { Float($0) * 0.25 }
        for rows in [1, T] {
            var y = [Float](repeating: 0, count: rows * O)
            linear(x, rows: rows, inFeatures: I, weight: w, bias: b, outFeatures: O, into: &y)
            for t in 0..<rows { for o in 0..<O {
                var s = b[o]; for i in 0..<I { s += x[t * I + i] * w[o * I + i] }
                XCTAssertEqual(y[t * O + o], s, accuracy: 1e-5)
            } }
        }
    }

    /// The few-rows path (2...8 rows, large weights: beams through Whisper's output head) against the naive sum,
    /// with odd sizes for the vector tails, with and without accumulation, on one and two threads.
    func testFewRowsLinearMatchesNaive() {
        let I = 389, O = 701     // 389·701 > 65536 floats: the few-rows path
        let w = (0..<(O * I)).map { sinf(Float($0) * 0.37) * 0.5 }
        let b = (0..<O).map { Float($0 % 13) * 0.01 }
        for threads in [1, 2] {
            EngineThreads.configure(threads)
            for T in [2, 5, 8] {
                let x = (0..<(T * I)).map { cosf(Float($0) * 0.11) }
                for acc in [false, true] {
                    var y = (0..<(T * O)).map { Float($0 % 5) }
                    let y0 = y
                    linear(x, rows: T, inFeatures: I, weight: w, bias: b, outFeatures: O, into: &y, accumulate: acc)
                    for t in 0..<T { for o in stride(from: 0, to: O, by: 7) {
                        var s: Double = Double(b[o]) + (acc ? Double(y0[t * O + o]) : 0)
                        for i in 0..<I { s += Double(x[t * I + i]) * Double(w[o * I + i]) }
                        XCTAssertEqual(Double(y[t * O + o]), s, accuracy: 1e-3, "T \(T) row \(t) out \(o)")
                    } }
                }
            }
        }
        EngineThreads.configure(nil)
    }

    /// Float16 weights read in place (Whisper's output head) give exactly what the float32 kernel gives on the
    /// widened weights: same values, same summation order. Odd sizes exercise the vector tails.
    func testFewRowsLinearHalfIsBitIdenticalToFloat() {
        let I = 389, O = 701
        let half = (0..<(O * I)).map { Float16(sinf(Float($0) * 0.37) * 0.5) }
        let wide = half.map { Float($0) }
        for threads in [1, 2] {
            EngineThreads.configure(threads)
            for T in [1, 2, 5, 9] {
                let x = (0..<(T * I)).map { cosf(Float($0) * 0.11) }
                var a = [Float](repeating: 0, count: T * O), b = a
                half.withUnsafeBytes { h in fewRowsLinearHalf(x, rows: T, inFeatures: I, weight: h.baseAddress!, outFeatures: O, into: &a) }
                fewRowsLinear(x, rows: T, inFeatures: I, weight: wide, outFeatures: O, into: &b, accumulate: false)
                XCTAssertEqual(a, b, "T \(T), \(threads) thread(s)")
                var s: Double = 0
                for i in 0..<I { s += Double(x[(T - 1) * I + i]) * Double(wide[(O - 1) * I + i]) }
                XCTAssertEqual(Double(a[T * O - 1]), s, accuracy: 1e-3)
            }
        }
        EngineThreads.configure(nil)
    }

    func testConv1dMatchesNaive() {
        let cin = 4, cout = 6, k = 3, tin = 11
        for (stride, pad, dil, groups) in [(1, 1, 1, 1), (2, 1, 1, 1), (1, 2, 2, 2), (1, 0, 1, 1), (1, 1, 1, 2)] {
            let x = (0..<(cin * tin)).map { sinf(Float($0)) }
            let w = (0..<(cout * (cin / groups) * k)).map { cosf(Float($0) * 0.3) }
            let b = (0..<cout).map { Float($0) * 0.1 }
            let tout = conv1dOutputLength(tin, kernel: k, stride: stride, padding: pad, dilation: dil)
            var y = [Float](repeating: 0, count: cout * tout)
            var cols = [Float](repeating: 0, count: cin * k * tout)
            conv1d(x, channels: cin, length: tin, weight: w, bias: b, outChannels: cout, kernel: k,
                   stride: stride, padding: pad, dilation: dil, groups: groups, into: &y, columns: &cols)
            let cg = cin / groups, og = cout / groups
            for o in 0..<cout { for t in 0..<tout {
                var s = b[o]; let g = o / og
                for c in 0..<cg { for kk in 0..<k {
                    let src = t * stride - pad + kk * dil
                    if src >= 0 && src < tin { s += w[(o * cg + c) * k + kk] * x[(g * cg + c) * tin + src] }
                } }
                XCTAssertEqual(y[o * tout + t], s, accuracy: 1e-4, "stride \(stride) pad \(pad) dil \(dil) groups \(groups)")
            } }
        }
    }

    func testConvTranspose1dMatchesNaive() {
        let cin = 3, cout = 2, k = 4, tin = 5, stride = 2, pad = 1
        let x = (0..<(cin * tin)).map { Float($0) * 0.1 - 0.4 }
        let w = (0..<(cin * cout * k)).map { sinf(Float($0)) }
        let b: [Float] = [0.5, -0.5]
        let tout = (tin - 1) * stride - 2 * pad + k
        var y = [Float](repeating: 0, count: cout * tout)
        var cols = [Float](repeating: 0, count: cout * k * tin)
        convTranspose1d(x, channels: cin, length: tin, weight: w, bias: b, outChannels: cout, kernel: k,
                        stride: stride, padding: pad, into: &y, columns: &cols)
        var ref = [Float](repeating: 0, count: cout * tout)
        for o in 0..<cout { for t in 0..<tout { ref[o * tout + t] = b[o] } }
        for c in 0..<cin { for t in 0..<tin { for o in 0..<cout { for kk in 0..<k {
            let s = t * stride - pad + kk
            if s >= 0 && s < tout { ref[o * tout + s] += x[c * tin + t] * w[(c * cout + o) * k + kk] }
        } } } }
        for i in 0..<ref.count { XCTAssertEqual(y[i], ref[i], accuracy: 1e-5) }
    }

    func testAttentionCausalAndGrouped() {
        let T = 4, H = 4, Hkv = 2, D = 3
        let q = (0..<(T * H * D)).map { sinf(Float($0) * 0.7) }
        let k = (0..<(T * Hkv * D)).map { cosf(Float($0) * 0.3) }
        let v = (0..<(T * Hkv * D)).map { Float($0 % 5) - 2 }
        var out = [Float](repeating: 0, count: T * H * D)
        var scores = [Float](repeating: 0, count: T * T)
        attention(q: q, qStride: H * D, k: k, kStride: Hkv * D, v: v, vStride: Hkv * D, out: &out, outStride: H * D,
                  queries: T, keys: T, heads: H, kvHeads: Hkv, headDim: D, scale: 0.5, causalOffset: 0, scores: &scores)
        for h in 0..<H { for i in 0..<T {
            let kv = h / (H / Hkv)
            var s = [Float](); for j in 0...i { var d: Float = 0; for e in 0..<D { d += q[i * H * D + h * D + e] * k[j * Hkv * D + kv * D + e] }; s.append(d * 0.5) }
            let m = s.max()!; let ex = s.map { expf($0 - m) }; let z = ex.reduce(0, +)
            for e in 0..<D {
                var o: Float = 0; for j in 0...i { o += ex[j] / z * v[j * Hkv * D + kv * D + e] }
                XCTAssertEqual(out[i * H * D + h * D + e], o, accuracy: 1e-5)
            }
        } }
    }

    /// The decoder's cross-attention kernel (keys transposed, five queries at a time) equals the general one, for
    /// row counts around the group size and key counts off the 16-key block.
    func testFewQueryAttentionMatchesGeneralAttention() {
        for (R, T, hd) in [(1, 37, 32), (4, 16, 32), (5, 50, 64), (7, 33, 32), (11, 5, 32), (5, 21, 20), (2, 18, 6)] {
            let H = 3, D = H * hd
            let q = (0..<(R * D)).map { sinf(Float($0) * 0.37) }
            let k = (0..<(T * D)).map { cosf(Float($0) * 0.11) }
            let v = (0..<(T * D)).map { Float(($0 * 7) % 11) / 5 - 1 }
            var kT = [Float](repeating: 0, count: D * T)
            for t in 0..<T { for d in 0..<D { kT[d * T + t] = k[t * D + d] } }
            var expected = [Float](repeating: 0, count: R * D), got = [Float](repeating: .nan, count: R * D)
            var scores = [Float](repeating: 0, count: R * T)
            attention(q: q, qStride: D, k: k, kStride: D, v: v, vStride: D, out: &expected, outStride: D,
                      queries: R, keys: T, heads: H, kvHeads: H, headDim: hd, scale: 0.2, scores: &scores)
            var scratch = [Float](repeating: 0, count: H * crossGroup * (hd + T))
            fewQueryAttention(q: q, qStride: D, kT: kT, keys: T, v: v, vStride: D, out: &got, outStride: D,
                              rows: R, heads: H, headDim: hd, scale: 0.2, scratch: &scratch)
            for i in 0..<(R * D) { XCTAssertEqual(got[i], expected[i], accuracy: 1e-5, "R \(R) T \(T) hd \(hd) at \(i)") }
        }
    }

    /// The language model's next token waits while speech is being synthesized, and not once the turn is cancelled.
    func testBackgroundWorkWaitsForForegroundWork() {
        let started = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            ForegroundWork.run {
                started.signal()
                usleep(50_000)
                finished.signal()
            }
        }
        started.wait()
        ForegroundWork.yield(isCancelled: { false })
        XCTAssertEqual(finished.wait(timeout: .now()), .success, "yield returned while synthesis was still running")

        let again = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { ForegroundWork.run { again.signal(); done.wait() } }
        again.wait()
        ForegroundWork.yield(isCancelled: { true })       // returns at once: a cancelled turn does not wait
        done.signal()
    }

    func testNormsAndSoftmax() {
        var x: [Float] = [1, 2, 3, 4]
        var y = [Float](repeating: 0, count: 4)
        layerNorm(x, rows: 1, dim: 4, gamma: nil, beta: nil, eps: 0, into: &y)
        XCTAssertEqual(y.reduce(0, +), 0, accuracy: 1e-5)
        XCTAssertEqual(y.map { $0 * $0 }.reduce(0, +) / 4, 1, accuracy: 1e-4)
        let w: [Float] = [1, 1, 1, 2]
        rmsNorm(x, rows: 1, dim: 4, weight: w, eps: 0, into: &y)
        let rms = (30.0 / 4.0).squareRoot()
        XCTAssertEqual(y[3], Float(4 / rms * 2), accuracy: 1e-5)
        softmaxInPlace(&x, count: 4)
        XCTAssertEqual(x.reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertGreaterThan(x[3], x[2])
    }

    func testHalfConversionAndByteReader() throws {
        let bits: [UInt16] = [0x3C00, 0xC000, 0x3555]  // 1, -2, ~0.333
        var out = [Float](repeating: 0, count: 3)
        bits.withUnsafeBytes { convertToFloat($0.baseAddress!, .f16, count: 3, into: &out) }
        XCTAssertEqual(out[0], 1); XCTAssertEqual(out[1], -2); XCTAssertEqual(out[2], 0.333, accuracy: 1e-3)
        let bytes: [UInt8] = [1, 0, 0, 0, 0xff]
        try bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw, path: "x.bin")
            XCTAssertEqual(try r.read(UInt32.self), 1)
            XCTAssertThrowsError(try r.read(UInt16.self)) { e in
                XCTAssertTrue("\(e)".hasPrefix("x.bin: truncated"))
            }
        }
    }
}
