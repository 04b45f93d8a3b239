import XCTest
import AudioIO
@testable import Engine

/// Whisper's reduced-precision paths: every int8 kernel this CPU runs against the plain C one (bit-identical), the
/// plain one against float32 products, the 16-bit integer attention against float32 attention, and the model in
/// each precision against f32 (the tiny random model for every kernel, tiny.en on the speech fixtures).
final class PrecisionTests: XCTestCase {
    private func random(_ n: Int, _ rng: inout LCG, scale: Float = 1) -> [Float] { (0..<n).map { _ in rng.next() * scale } }

    private func runnableKernels() -> [Int8Kernel] { Int8Kernel.allCases.filter { $0 <= Int8Kernel.best } }

    func testThisMachineRunsTheVectorKernels() {
        // x86-64 with AVX2 is the floor; the machine these tests run on has AVX-512 VNNI (checked, not assumed away)
        XCTAssertGreaterThanOrEqual(Int8Kernel.best, .avx2)
        XCTAssertEqual(Int8Kernel.hasVNNI, Int8Kernel.best == .vnni512)
        let vnni = Int8Kernel.hasVNNI && Attention16Workspace.available
        XCTAssertEqual(WhisperPrecision.preferred, vnni ? (Bf16Kernel.fasterThanFloat ? .bf16 : .mixed) : .f32)
    }

    /// Odd shapes (outputs not a multiple of 16, inputs not a multiple of 4, row counts past every tile size), bias,
    /// accumulation and overlapping input rows (conv2's windows): all variants give the same bits as the plain one,
    /// and the plain one is within int8 rounding of the float product.
    func testInt8KernelVariantsMatchThePlainOneExactly() {
        var rng = LCG(state: 11)
        for (M, N, K, stride) in [(13, 70, 45, 45), (1, 200, 64, 64), (7, 16, 384, 384), (20, 33, 24, 8)] {
            let W = random(N * K, &rng), b = random(N, &rng), x = random((M - 1) * stride + K, &rng, scale: 3)
            let q = W.withUnsafeBufferPointer { Int8Matrix($0.baseAddress!, outFeatures: N, inFeatures: K) }
            let scratch = Int8Activations(maxRows: M, maxInFeatures: K)
            var outputs: [[Float]] = []
            for kernel in [Int8Kernel.plain] + runnableKernels().filter({ $0 != .plain }) {
                var y = [Float](repeating: 0.5, count: M * N)
                for accumulate in [false, true] {
                    x.withUnsafeBufferPointer { xp in b.withUnsafeBufferPointer { bp in y.withUnsafeMutableBufferPointer { yp in
                        int8Linear(xp.baseAddress!, rows: M, rowStride: stride, weight: q, bias: bp.baseAddress!, into: yp.baseAddress!,
                                   accumulate: accumulate, scratch: scratch, kernel: kernel)
                    } } }
                }
                outputs.append(y)
            }
            for (i, y) in outputs.enumerated().dropFirst() {
                XCTAssertEqual(y.map(\.bitPattern), outputs[0].map(\.bitPattern), "kernel \(runnableKernels()[i]) M \(M) N \(N) K \(K)")
            }
            // y = 2·(x·Wᵀ + b) (computed, then accumulated once more)
            var worst: Float = 0
            for m in 0..<M {
                for n in 0..<N {
                    var s: Float = 0, mag: Float = 0
                    for k in 0..<K { s += x[m * stride + k] * W[n * K + k]; mag += abs(x[m * stride + k] * W[n * K + k]) }
                    worst = max(worst, abs(outputs[0][m * N + n] - 2 * (s + b[n])) / max(mag, 1))
                }
            }
            XCTAssertLessThan(worst, 0.03, "M \(M) N \(N) K \(K)")
        }
    }

    /// The float16 constructor (the output head as stored) packs the same values as the float one.
    func testHalfWeightsPackLikeFloatWeights() {
        var rng = LCG(state: 5)
        let N = 300, K = 24
        let halves = (0..<(N * K)).map { _ in Float16(rng.next()) }
        let floats = halves.map { Float($0) }
        let a = floats.withUnsafeBufferPointer { Int8Matrix($0.baseAddress!, outFeatures: N, inFeatures: K) }
        let h = halves.withUnsafeBytes { Int8Matrix(half: $0.baseAddress!, outFeatures: N, inFeatures: K) }
        XCTAssertEqual(a.byteCount, h.byteCount)
        XCTAssertTrue((0..<(a.paddedN * a.paddedK)).allSatisfy { a.packed[$0] == h.packed[$0] })
        XCTAssertTrue((0..<N).allSatisfy { a.scales[$0] == h.scales[$0] && a.colsums[$0] == h.colsums[$0] })
    }

    /// 16-bit integer attention against float32 attention: keys not a multiple of 16, queries past the 48-row block,
    /// peaked and flat score rows.
    func testAttention16MatchesFloatAttention() throws {
        guard Attention16Workspace.available else {
            XCTAssertFalse(Int8Kernel.hasVNNI, "VNNI without the 16-bit attention kernel")
            return
        }
        EngineThreads.configure(2)
        var rng = LCG(state: 3)
        for (Tq, Tk, sharp) in [(50, 37, Float(1)), (100, 130, 6), (7, 1500, 3)] {
            let H = 2, hd = 64, D = H * hd
            let q = random(Tq * D, &rng, scale: sharp), k = random(Tk * D, &rng), v = random(Tk * D, &rng)
            var ref = [Float](repeating: 0, count: Tq * D), got = ref
            var scores = [Float](repeating: 0, count: Tq * Tk)
            let ws = Attention16Workspace(heads: H, maxKeys: Tk)
            q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
                ref.withUnsafeMutableBufferPointer { r in scores.withUnsafeMutableBufferPointer { s in
                    attention(q: qp.baseAddress!, qStride: D, k: kp.baseAddress!, kStride: D, v: vp.baseAddress!, vStride: D, out: r.baseAddress!, outStride: D,
                              queries: Tq, keys: Tk, heads: H, kvHeads: H, headDim: hd, scale: 0.125, scores: s.baseAddress!)
                } }
                got.withUnsafeMutableBufferPointer { g in
                    attention16(q: qp.baseAddress!, qStride: D, k: kp.baseAddress!, kStride: D, v: vp.baseAddress!, vStride: D, out: g.baseAddress!, outStride: D,
                                queries: Tq, keys: Tk, heads: H, scale: 0.125, workspace: ws)
                }
            } } }
            let err = zip(ref, got).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(err, 2e-3, "Tq \(Tq) Tk \(Tk)")     // values in [-1, 1]
            XCTAssertGreaterThan(ref.map(abs).max() ?? 0, 0.05)
        }
    }

    /// The tiny random model in each precision: int8 gives the same encoder output and logits bits with every kernel,
    /// and both reduced precisions stay close to f32.
    func testTinyModelPrecisionsAgree() throws {
        let dir = try Fixtures.tempDir("precision")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TinyWhisper.write(to: dir)
        EngineThreads.configure(2)
        var rng = LCG(state: 9)
        let audio = (0..<32000).map { _ in rng.next() * 0.3 }
        let mel = LogMelSpectrogram(nMels: 80)
        let (features, frames) = audio.withUnsafeBufferPointer { mel.compute($0) }
        func run(_ p: WhisperPrecision, _ kernel: Int8Kernel) throws -> (enc: [Float], logits: [Float]) {
            let file = try CTranslate2ModelFile(path: dir.appendingPathComponent("model.bin").path)
            let m = try WhisperModel(file: file, maxBeams: 2, precision: p, int8Kernel: kernel)
            XCTAssertEqual(m.precision, p)
            features.withUnsafeBufferPointer { m.encode(mel: $0.baseAddress!, stride: frames, offset: 0, available: frames - 1, frames: 3000) }
            m.decodePrefill([50257, 50362, 11, 12], start: 0, logitRows: [3])
            m.broadcastCache(count: 2, length: 4)
            m.decodeStep([13, 14], position: 4)
            return (Array(UnsafeBufferPointer(start: m.encOut.pointer, count: 1500 * TinyWhisper.D)),
                    Array(UnsafeBufferPointer(start: m.logits.pointer, count: 2 * TinyWhisper.vocab)))
        }
        let ref = try run(.f32, .best)
        func relative(_ a: [Float], _ b: [Float]) -> Float {
            let num = zip(a, b).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }, den = a.reduce(Float(0)) { $0 + $1 * $1 }
            return (num / max(den, 1e-30)).squareRoot()
        }
        let mixed = try run(.mixed, .best)
        XCTAssertLessThan(relative(ref.enc, mixed.enc), 1e-3)
        var int8: [(enc: [Float], logits: [Float])] = []
        for kernel in runnableKernels() { int8.append(try run(.int8, kernel)) }
        for (i, r) in int8.enumerated().dropFirst() {
            XCTAssertEqual(r.enc.map(\.bitPattern), int8[0].enc.map(\.bitPattern), "kernel \(runnableKernels()[i])")
            XCTAssertEqual(r.logits.map(\.bitPattern), int8[0].logits.map(\.bitPattern), "kernel \(runnableKernels()[i])")
        }
        XCTAssertLessThan(relative(ref.enc, int8[0].enc), 0.05)
        XCTAssertLessThan(relative(ref.logits, int8[0].logits), 0.05)
        XCTAssertGreaterThan(relative(ref.enc, int8[0].enc), 0)      // it is a different path
    }

    /// tiny.en (a real model: 64-wide heads, so the 16-bit attention runs) hears the speech fixtures the same in every
    /// precision this machine has.
    func testPrecisionsTranscribeTheFixturesAlike() throws {
        EngineThreads.configure(2)
        var texts: [WhisperPrecision: [String]] = [:]
        for p in WhisperPrecision.allCases {
            var o = WhisperOptions()
            o.decoding.beamSize = 1
            o.precision = p
            let asr = try WhisperTranscriber(model: "tiny.en", options: o)
            XCTAssertEqual(asr.model.precision, p.supported)     // bf16 only with AVX512-BF16 (Bf16Tests checks which)
            texts[p] = try ["what_time.wav", "lights_kitchen.wav", "relaxing_music.wav"].map {
                try asr.transcribe(try WhisperTranscriber.readAudio(try Fixtures.url($0).path)).text
            }
        }
        XCTAssertEqual(texts[.mixed], texts[.f32])
        XCTAssertEqual(texts[.int8], texts[.f32])
        XCTAssertEqual(texts[.bf16], texts[.f32])
        XCTAssertTrue(texts[.f32]?.first?.lowercased().contains("what time is it") ?? false, "\(texts)")
    }
}
