import XCTest
import Foundation
import CKernels
@testable import Engine

/// The bf16 products (AVX512-BF16 vdpbf16ps) against a reference written here in Swift, the AVX-512 kernel against
/// the plain C one (the same bits), and the bf16 precision of the tiny random model. On a CPU without AVX512-BF16
/// the tests check the fallback instead (the AVX-512 request runs the plain kernel; a model asked for bf16 runs
/// `preferred`), so they cannot pass there by skipping.
final class Bf16Tests: XCTestCase {
    private func random(_ n: Int, _ rng: inout LCG, scale: Float = 1) -> [Float] { (0..<n).map { _ in rng.next() * scale } }

    /// What /proc/cpuinfo says, to check the detection against (not assumed: the same code path decides).
    private var cpuinfoHasBF16: Bool {
        ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "").contains(" avx512_bf16")
    }

    func testDetectionMatchesTheCPU() {
        XCTAssertEqual(Bf16Kernel.available, cpuinfoHasBF16)
        XCTAssertEqual(Bf16Kernel.best, cpuinfoHasBF16 ? .avx512 : .plain)
        XCTAssertEqual(WhisperPrecision.bf16.supported, Bf16Kernel.available ? .bf16 : WhisperPrecision.preferred)
        for p in [WhisperPrecision.f32, .mixed, .int8] { XCTAssertEqual(p.supported, p) }
    }

    /// The measured rate of vdpbf16ps against float32 FMA decides whether bf16 is the default; the measurement is a
    /// real one (positive with AVX512-BF16, within what the two instructions can do) and repeatable in its verdict.
    func testBf16RateIsMeasuredAndDecidesThePreference() {
        let ratio = confab_bf16_multiply_rate_ratio()
        if Bf16Kernel.available {
            // 32 multiply-adds per vdpbf16ps against 16 per FMA: no CPU does better than 2 × its issue-rate ratio
            XCTAssertGreaterThan(ratio, 0.1); XCTAssertLessThan(ratio, 4.5)
            XCTAssertEqual(Bf16Kernel.fasterThanFloat, Bf16Kernel.multiplyRateRatio >= 1.5)
            // a fresh measurement lands on the same side of the line unless the first one was close to it
            if abs(Bf16Kernel.multiplyRateRatio - 1.5) > 0.4 { XCTAssertEqual(ratio >= 1.5, Bf16Kernel.fasterThanFloat) }
        } else {
            XCTAssertEqual(ratio, 0); XCTAssertFalse(Bf16Kernel.fasterThanFloat)
        }
        if Bf16Kernel.fasterThanFloat { XCTAssertEqual(WhisperPrecision.preferred, .bf16) }
        else { XCTAssertNotEqual(WhisperPrecision.preferred, .bf16) }
    }

    /// Round to nearest even, as vcvtneps2bf16 does (denormals to signed zero), written independently of the C code.
    private func bf16(_ f: Float) -> Float {
        let u = f.bitPattern
        if u & 0x7F80_0000 == 0 { return Float(bitPattern: u & 0x8000_0000) }
        let r = (u &+ 0x7FFF &+ ((u >> 16) & 1)) & 0xFFFF_0000
        return Float(bitPattern: r)
    }

    func testRoundingToBf16() {
        let cases: [Float] = [0, -0, 1, -1, 1.00390625 /* tie, even below */, 1.01171875 /* tie, odd below */, 3.14159265, -2.71828,
                              1e-39 /* denormal */, -1e-40, .greatestFiniteMagnitude, .infinity, -.infinity, 65504, 1e-30, 0.1]
        for f in cases {
            let h = confab_bf16_from_float(f)
            XCTAssertEqual(Float(bitPattern: UInt32(h) << 16).bitPattern, bf16(f).bitPattern, "\(f)")
        }
        XCTAssertEqual(confab_bf16_from_float(1.00390625), 0x3F80)          // tie → even (1.0)
        XCTAssertEqual(confab_bf16_from_float(1.01171875), 0x3F82)          // tie → even (up)
        XCTAssertTrue(Float(bitPattern: UInt32(confab_bf16_from_float(.nan)) << 16).isNaN)
        // rows: every kernel the same bits, odd K gets its pad element zeroed, strided input rows
        var rng = LCG(state: 21)
        for (M, K, ldx) in [(3, 45, 50), (2, 1, 1), (5, 64, 64), (4, 33, 40)] {
            var x = random((M - 1) * ldx + K, &rng, scale: 10)
            x[0] = 1e-39
            let lda = Int(confab_bf16_padded_k(Int32(K))) + 2
            var outs: [[UInt16]] = []
            for kernel in Bf16Kernel.allCases {
                var xa = [UInt16](repeating: 0xFFFF, count: M * lda)
                confab_bf16_round_rows(kernel.rawValue, x, Int32(M), Int32(K), ldx, &xa, lda)
                for m in 0..<M {
                    for k in 0..<K { XCTAssertEqual(Float(bitPattern: UInt32(xa[m * lda + k]) << 16), bf16(x[m * ldx + k]), "K \(K)") }
                    if K % 2 == 1 { XCTAssertEqual(xa[m * lda + K], 0) }
                }
                outs.append(xa)
            }
            XCTAssertEqual(outs[0], outs[1])
        }
    }

    /// Odd shapes (outputs not a multiple of 16 nor of the 4-panel block, odd inputs, rows past the 6-row tile and
    /// the row blocks), bias or none, accumulation and overlapping input rows (conv2's windows): the AVX-512 kernel
    /// gives the plain kernel's bits, and the plain one gives exactly the bits of vdpbf16ps as Intel specifies it
    /// (per pair: the odd product, then the even one, each added to the float32 sum with rounding), computed here.
    func testKernelsMatchTheReferenceExactly() {
        var rng = LCG(state: 17)
        EngineThreads.configure(2)
        for (M, N, K, stride, withBias) in [(13, 70, 45, 45, true), (1, 200, 64, 64, false), (7, 16, 384, 384, true), (20, 33, 24, 8, true),
                                            (200, 81, 3, 3, false), (31, 130, 1536, 1536, true)] {
            let W = random(N * K, &rng, scale: 0.2), b = random(N, &rng), x = random((M - 1) * stride + K, &rng, scale: 3)
            let w = W.withUnsafeBufferPointer { Bf16Matrix($0.baseAddress!, outFeatures: N, inFeatures: K) }
            let scratch = Bf16Activations(maxRows: M, maxInFeatures: K)
            var outputs: [[Float]] = []
            for kernel in Bf16Kernel.allCases {
                var y = [Float](repeating: 0.5, count: M * N)
                for accumulate in [false, true] {
                    x.withUnsafeBufferPointer { xp in b.withUnsafeBufferPointer { bp in y.withUnsafeMutableBufferPointer { yp in
                        bf16Linear(xp.baseAddress!, rows: M, rowStride: stride, weight: w, bias: withBias ? bp.baseAddress! : nil, into: yp.baseAddress!,
                                   accumulate: accumulate, scratch: scratch, kernel: kernel)
                    } } }
                }
                outputs.append(y)
            }
            XCTAssertEqual(outputs[1].map(\.bitPattern), outputs[0].map(\.bitPattern), "AVX-512 vs plain, M \(M) N \(N) K \(K)")
            // the reference: y = 2·(Σ + b), i.e. (Σ + b) computed, then accumulated once more
            var worst: Float = 0
            var exact = true
            for m in 0..<M {
                for n in 0..<N {
                    var s: Float = 0
                    var k = 0
                    while k < K {
                        let a0 = bf16(x[m * stride + k]), w0 = bf16(W[n * K + k])
                        let a1 = k + 1 < K ? bf16(x[m * stride + k + 1]) : 0, w1 = k + 1 < K ? bf16(W[n * K + k + 1]) : 0
                        s = s + a1 * w1
                        s = s + a0 * w0
                        k += 2
                    }
                    let v = withBias ? s + b[n] : s
                    let expected = v + v
                    if outputs[0][m * N + n].bitPattern != expected.bitPattern { exact = false }
                    var f: Float = 0, mag: Float = 0
                    for k in 0..<K { f += x[m * stride + k] * W[n * K + k]; mag += abs(x[m * stride + k] * W[n * K + k]) }
                    worst = max(worst, abs(outputs[0][m * N + n] - 2 * (f + (withBias ? b[n] : 0))) / max(mag, 1))
                }
            }
            XCTAssertTrue(exact, "plain kernel vs the Swift reference, M \(M) N \(N) K \(K)")
            XCTAssertLessThan(worst, 0.01, "against float32, M \(M) N \(N) K \(K)")
        }
    }

    /// The tiny random model in bf16: both kernels give the same encoder output and logits, close to f32; and a model
    /// asked for bf16 without a kernel runs bf16 only where the CPU has it.
    func testTinyModelInBf16() throws {
        let dir = try Fixtures.tempDir("bf16")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TinyWhisper.write(to: dir)
        EngineThreads.configure(2)
        var rng = LCG(state: 9)
        let audio = (0..<32000).map { _ in rng.next() * 0.3 }
        let mel = LogMelSpectrogram(nMels: 80)
        let (features, frames) = audio.withUnsafeBufferPointer { mel.compute($0) }
        let path = dir.appendingPathComponent("model.bin").path
        func run(_ p: WhisperPrecision, _ kernel: Bf16Kernel?) throws -> (enc: [Float], logits: [Float], precision: WhisperPrecision) {
            let m = try WhisperModel(file: try CTranslate2ModelFile(path: path), maxBeams: 2, precision: p, bf16Kernel: kernel)
            features.withUnsafeBufferPointer { m.encode(mel: $0.baseAddress!, stride: frames, offset: 0, available: frames - 1, frames: 3000) }
            m.decodePrefill([50257, 50362, 11, 12], start: 0, logitRows: [3])
            return (Array(UnsafeBufferPointer(start: m.encOut.pointer, count: 1500 * TinyWhisper.D)),
                    Array(UnsafeBufferPointer(start: m.logits.pointer, count: TinyWhisper.vocab)), m.precision)
        }
        let ref = try run(.f32, nil)
        let plain = try run(.bf16, .plain)
        XCTAssertEqual(plain.precision, .bf16)
        let fast = try run(.bf16, .avx512)
        XCTAssertEqual(fast.enc.map(\.bitPattern), plain.enc.map(\.bitPattern))
        XCTAssertEqual(fast.logits.map(\.bitPattern), plain.logits.map(\.bitPattern))
        func relative(_ a: [Float], _ b: [Float]) -> Float {
            let num = zip(a, b).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }, den = a.reduce(Float(0)) { $0 + $1 * $1 }
            return (num / max(den, 1e-30)).squareRoot()
        }
        XCTAssertLessThan(relative(ref.enc, plain.enc), 0.02)
        XCTAssertLessThan(relative(ref.logits, plain.logits), 0.02)
        XCTAssertGreaterThan(relative(ref.enc, plain.enc), 0)      // it is a different path
        let auto = try run(.bf16, nil)
        XCTAssertEqual(auto.precision, Bf16Kernel.available ? .bf16 : WhisperPrecision.preferred)
        if Bf16Kernel.available { XCTAssertEqual(auto.enc.map(\.bitPattern), plain.enc.map(\.bitPattern)) }
    }
}
