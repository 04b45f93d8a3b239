import XCTest
@testable import Engine

/// VITS modules against outputs computed once by onnxruntime on the real voice ("Hello world.", scales 0/1/0;
/// scripts/tts_reference.py fixtures), and a tiny random-weight VITS built here for shapes.
final class VITSTests: XCTestCase {
    struct Fixture: Decodable {
        var ids: [Int]; var m_p_first_column: [Float]; var m_p_sum: Float; var logs_p_column5: [Float]
        var logw: [Float]; var w_ceil: [Int]; var frames: Int; var z_frame10: [Float]
        var samples: Int; var audio_2000_2064: [Float]
    }

    func fixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/vits_hello_noise0", withExtension: "json"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testEachModuleMatchesOnnxruntime() throws {
        let fx = try fixture()
        let vits = VITS(weights: try TestVoice.shared().weights)
        let scales = SynthesisScales(noiseScale: 0, lengthScale: 1, noiseW: 0)
        // Text encoder
        let enc = try vits.encode(fx.ids)
        let T = fx.ids.count
        for c in 0..<fx.m_p_first_column.count { XCTAssertEqual(enc.m[c * T], fx.m_p_first_column[c], accuracy: 1e-4) }
        for c in 0..<fx.logs_p_column5.count { XCTAssertEqual(enc.logs[c * T + 5], fx.logs_p_column5[c], accuracy: 1e-4) }
        XCTAssertEqual(enc.m.reduce(0, +), fx.m_p_sum, accuracy: 1e-2)
        // Stochastic duration predictor in reverse, then ceil
        var rng = NormalRNG(seed: 0)
        let dur = vits.durations(enc, scales: scales, speaker: nil, rng: &rng)
        XCTAssertEqual(dur, fx.w_ceil)
        // Prior + coupling flow in reverse
        let (z, F) = vits.latent(enc, durations: dur, scales: scales, speaker: nil, rng: &rng)
        XCTAssertEqual(F, fx.frames)
        for c in 0..<fx.z_frame10.count { XCTAssertEqual(z[c * F + 10], fx.z_frame10[c], accuracy: 1e-3) }
        // HiFi-GAN
        let audio = z.withUnsafeBufferPointer { vits.decode($0.baseAddress!, frames: F, from: 0, to: F, context: 0, speaker: nil) }
        XCTAssertEqual(audio.count, fx.samples)
        let piece = Array(audio[2000..<2064])
        for i in 0..<piece.count { XCTAssertEqual(piece[i], fx.audio_2000_2064[i], accuracy: 2e-4) }
        XCTAssertGreaterThan(correlation(piece, fx.audio_2000_2064), 0.9999)
    }

    func testWindowedDecoderMatchesWholeSentence() throws {
        let voice = try TestVoice.shared()
        let vits = VITS(weights: voice.weights)
        let ids = try EspeakPhonemizer.shared.phonemizeToIds("The quick brown fox jumps over the lazy dog.", config: voice.config)[0].ids
        let scales = SynthesisScales(noiseScale: 0, lengthScale: 1, noiseW: 0)
        let whole = try vits.synthesize(ids: ids, scales: scales, seed: 1, windowed: false)
        var chunks: [[Float]] = []
        try vits.synthesize(ids: ids, scales: scales, seed: 1, windowed: true) { chunks.append($0); return true }
        XCTAssertGreaterThan(chunks.count, 2, "a long sentence streams in several decoder windows")
        let streamed = chunks.flatMap { $0 }
        XCTAssertEqual(streamed.count, whole.count)
        XCTAssertGreaterThan(correlation(streamed, whole), 0.9999)
    }

    // MARK: A tiny random VITS (hidden 8, 2 heads, window 2, SDP with one ConvFlow, 2 coupling layers,
    // 2 upsamplings ×2 with one ResBlock2 and one ResBlock1 each, 3 speakers).

    static func tinyWeights(seed: UInt64) -> ONNXWeights {
        var rng = NormalRNG(seed: seed)
        var t: [String: Tensor] = [:]
        func add(_ name: String, _ shape: [Int], scale: Float = 0.3, constant: Float? = nil) {
            let n = shape.reduce(1, *)
            t[name] = Tensor(shape: shape, values: (0..<n).map { _ in constant ?? rng.next() * scale })
        }
        let H = 8, inter = 4, gin = 6
        add("enc_p.emb.weight", [10, H])
        for i in 0..<2 {
            let p = "enc_p.encoder"
            for c in ["q", "k", "v", "o"] { add("\(p).attn_layers.\(i).conv_\(c).weight", [H, H, 1]); add("\(p).attn_layers.\(i).conv_\(c).bias", [H]) }
            add("\(p).attn_layers.\(i).emb_rel_k", [1, 5, 4]); add("\(p).attn_layers.\(i).emb_rel_v", [1, 5, 4])
            for n in ["norm_layers_1", "norm_layers_2"] { add("\(p).\(n).\(i).gamma", [H], constant: 1); add("\(p).\(n).\(i).beta", [H], constant: 0) }
            add("\(p).ffn_layers.\(i).conv_1.weight", [16, H, 3]); add("\(p).ffn_layers.\(i).conv_1.bias", [16])
            add("\(p).ffn_layers.\(i).conv_2.weight", [H, 16, 3]); add("\(p).ffn_layers.\(i).conv_2.bias", [H])
        }
        add("enc_p.proj.weight", [2 * inter, H, 1]); add("enc_p.proj.bias", [2 * inter])
        func dds(_ p: String) {
            for i in 0..<2 {
                add("\(p).convs_sep.\(i).weight", [8, 1, 3]); add("\(p).convs_sep.\(i).bias", [8])
                add("\(p).convs_1x1.\(i).weight", [8, 8, 1]); add("\(p).convs_1x1.\(i).bias", [8])
                for n in ["norms_1", "norms_2"] { add("\(p).\(n).\(i).gamma", [8], constant: 1); add("\(p).\(n).\(i).beta", [8], constant: 0) }
            }
        }
        add("dp.pre.weight", [8, H, 1]); add("dp.pre.bias", [8]); dds("dp.convs")
        add("dp.proj.weight", [8, 8, 1]); add("dp.proj.bias", [8]); add("dp.cond.weight", [8, gin, 1]); add("dp.cond.bias", [8])
        add("dp.flows.0.m", [2, 1], scale: 0.1); add("dp.flows.0.logs", [2, 1], scale: 0.1)
        add("dp.flows.3.pre.weight", [8, 1, 1]); add("dp.flows.3.pre.bias", [8]); dds("dp.flows.3.convs")
        add("dp.flows.3.proj.weight", [11, 8, 1]); add("dp.flows.3.proj.bias", [11])   // 4 bins: 3·4 − 1
        for f in [0, 2] {
            let p = "flow.flows.\(f)"
            add("\(p).pre.weight", [8, inter / 2, 1]); add("\(p).pre.bias", [8])
            for l in 0..<2 {
                add("\(p).enc.in_layers.\(l).weight", [16, 8, 5]); add("\(p).enc.in_layers.\(l).bias", [16])
                let rs = l == 1 ? 8 : 16
                add("\(p).enc.res_skip_layers.\(l).weight", [rs, 8, 1]); add("\(p).enc.res_skip_layers.\(l).bias", [rs])
            }
            add("\(p).enc.cond_layer.weight", [32, gin, 1]); add("\(p).enc.cond_layer.bias", [32])
            add("\(p).post.weight", [inter / 2, 8, 1]); add("\(p).post.bias", [inter / 2])
        }
        add("dec.conv_pre.weight", [16, inter, 7]); add("dec.conv_pre.bias", [16])
        add("dec.cond.weight", [16, gin, 1]); add("dec.cond.bias", [16])
        add("dec.ups.0.weight", [16, 8, 4]); add("dec.ups.0.bias", [8])
        add("dec.ups.1.weight", [8, 4, 4]); add("dec.ups.1.bias", [4])
        for (r, ch) in [(0, 8), (1, 8), (2, 4), (3, 4)] {
            if r % 2 == 0 {
                for j in 0..<2 { add("dec.resblocks.\(r).convs.\(j).weight", [ch, ch, 3]); add("dec.resblocks.\(r).convs.\(j).bias", [ch]) }
            } else {
                for j in 0..<2 {
                    add("dec.resblocks.\(r).convs1.\(j).weight", [ch, ch, 3]); add("dec.resblocks.\(r).convs1.\(j).bias", [ch])
                    add("dec.resblocks.\(r).convs2.\(j).weight", [ch, ch, 3]); add("dec.resblocks.\(r).convs2.\(j).bias", [ch])
                }
            }
        }
        add("dec.conv_post.weight", [1, 4, 7])
        add("emb_g.weight", [3, gin])
        return ONNXWeights(tensors: t)
    }

    func testTinyRandomVITSShapes() throws {
        let w = try VITSWeights(Self.tinyWeights(seed: 7))
        XCTAssertEqual(w.hidden, 8); XCTAssertEqual(w.heads, 2); XCTAssertEqual(w.window, 2); XCTAssertEqual(w.inter, 4)
        XCTAssertEqual(w.numSpeakers, 3); XCTAssertEqual(w.hopLength, 4); XCTAssertEqual(w.flows.count, 2)
        let vits = VITS(weights: w)
        vits.decoderWindow = 6; vits.decoderContext = 12
        let ids = [1, 0, 5, 0, 7, 0, 3, 0, 9, 0, 2]
        let scales = SynthesisScales(noiseScale: 0.667, lengthScale: 1, noiseW: 0.8)
        let enc = try vits.encode(ids)
        XCTAssertEqual(enc.h.count, 8 * ids.count); XCTAssertEqual(enc.m.count, 4 * ids.count)
        var outs: [[Float]] = []
        for speaker in 0..<3 {
            var rng = NormalRNG(seed: 3)
            let g = try vits.speakerEmbedding(speaker)
            let dur = vits.durations(enc, scales: scales, speaker: g, rng: &rng)
            XCTAssertEqual(dur.count, ids.count)
            let frames = max(1, dur.reduce(0, +))
            let whole = try vits.synthesize(ids: ids, scales: scales, speaker: speaker, seed: 3, windowed: false)
            XCTAssertEqual(whole.count, frames * 4)
            XCTAssertTrue(whole.allSatisfy { $0.isFinite && abs($0) <= 1 })
            // Windowed decoding gives the same samples.
            let streamed = try vits.synthesize(ids: ids, scales: scales, speaker: speaker, seed: 3, windowed: true)
            XCTAssertEqual(streamed.count, whole.count)
            for i in 0..<whole.count { XCTAssertEqual(streamed[i], whole[i], accuracy: 1e-4) }
            outs.append(whole)
        }
        XCTAssertNotEqual(outs[0], outs[1], "the speaker embedding conditions the output")
        XCTAssertThrowsError(try vits.speakerEmbedding(3))
        XCTAssertThrowsError(try vits.encode([1, 0, 99, 2]))   // id outside the symbol table
        XCTAssertThrowsError(try vits.encode([]))
    }

    /// The direct-kernel decoder (cropped windows, fused stores) gives the im2col decoder's samples, whole and
    /// windowed, at every kernel level this CPU runs.
    func testDirectDecoderMatchesIm2colDecoderAtEveryLevel() throws {
        let w = try VITSWeights(Self.tinyWeights(seed: 11))
        XCTAssertNotNil(w.resDirect)
        let vits = VITS(weights: w)
        var rng = NormalRNG(seed: 4)
        let F = 40
        let z = (0..<(w.inter * F)).map { _ in rng.next() }
        let g = try vits.speakerEmbedding(1)
        let reference = z.withUnsafeBufferPointer { vits.decodeIm2col($0.baseAddress!, frames: F, from: 0, to: F, context: 0, speaker: g) }
        XCTAssertEqual(reference.count, F * w.hopLength)
        defer { ConvKernelLevel.current = ConvKernelLevel.detected }
        for level in 0...ConvKernelLevel.detected {
            ConvKernelLevel.current = level
            let whole = z.withUnsafeBufferPointer { vits.decode($0.baseAddress!, frames: F, from: 0, to: F, context: 0, speaker: g) }
            XCTAssertEqual(whole.count, reference.count)
            for i in 0..<whole.count { XCTAssertEqual(whole[i], reference[i], accuracy: 1e-5, "level \(level) sample \(i)") }
            // windows of 7 frames with the computed context: the same samples
            var streamed: [Float] = []
            var f = 0
            while f < F {
                let e = min(F, f + 7)
                streamed += z.withUnsafeBufferPointer { vits.decode($0.baseAddress!, frames: F, from: f, to: e, context: vits.decoderContext, speaker: g) }
                f = e
            }
            XCTAssertEqual(streamed.count, reference.count)
            for i in 0..<streamed.count { XCTAssertEqual(streamed[i], reference[i], accuracy: 1e-5, "level \(level) windowed sample \(i)") }
        }
    }

    func testSeedMakesSynthesisRepeatable() throws {
        let w = try VITSWeights(Self.tinyWeights(seed: 1))
        let vits = VITS(weights: w)
        let scales = SynthesisScales(noiseScale: 0.667, lengthScale: 1, noiseW: 0.8)
        let a = try vits.synthesize(ids: [1, 0, 4, 0, 6, 0, 2], scales: scales, seed: 42)
        let b = try vits.synthesize(ids: [1, 0, 4, 0, 6, 0, 2], scales: scales, seed: 42)
        XCTAssertEqual(a, b)
    }

    func testInverseSplineIsIdentityOutsideAndMonotoneInside() {
        var p = [Float](repeating: 0, count: 29)
        XCTAssertEqual(p.withUnsafeMutableBufferPointer { inverseRationalQuadratic(7, $0.baseAddress!, bins: 10, widthScale: 1) }, 7)
        // Uniform bins and unit derivatives: the spline is the identity.
        for x: Float in [-4.5, -1, 0, 0.3, 2.2, 4.9] {
            p = [Float](repeating: 0, count: 29)
            p[20...] = ArraySlice(repeating: Float(Foundation.log(Foundation.exp(1 - 1e-3) - 1)), count: 9)
            let y = p.withUnsafeMutableBufferPointer { inverseRationalQuadratic(x, $0.baseAddress!, bins: 10, widthScale: 1) }
            XCTAssertEqual(y, x, accuracy: 1e-4)
        }
    }
}
