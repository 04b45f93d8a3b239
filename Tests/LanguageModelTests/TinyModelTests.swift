import XCTest
@testable import Engine

/// A tiny random-weight llama/qwen2 model written as a GGUF by the test, run through the engine and through a
/// naive double-precision reference written here from the architecture's definition.
final class TinyModelTests: XCTestCase {
    struct Tiny {
        let arch: String
        let D = 64, H = 4, KV = 2, hd = 16, F = 96, V = 48, L = 2
        let quantize: Bool      // Q8_0 matrices (else F32)
        var weights: [String: [Float]] = [:]   // as the reference sees them ([out][in] row-major)
        let ropeBase: Float = 10000

        init(arch: String, quantize: Bool, seed: UInt64) {
            self.arch = arch; self.quantize = quantize
            var rng = TestRNG(seed)
            func rand(_ n: Int, _ s: Float) -> [Float] { (0..<n).map { _ in rng.float(-s, s) } }
            weights["token_embd.weight"] = rand(V * D, 1)
            for l in 0..<L {
                let p = "blk.\(l)."
                weights[p + "attn_norm.weight"] = rand(D, 0.5).map { 1 + $0 }
                weights[p + "ffn_norm.weight"] = rand(D, 0.5).map { 1 + $0 }
                weights[p + "attn_q.weight"] = rand(H * hd * D, 0.3)
                weights[p + "attn_k.weight"] = rand(KV * hd * D, 0.3)
                weights[p + "attn_v.weight"] = rand(KV * hd * D, 0.3)
                weights[p + "attn_output.weight"] = rand(D * H * hd, 0.2)
                weights[p + "ffn_gate.weight"] = rand(F * D, 0.2)
                weights[p + "ffn_up.weight"] = rand(F * D, 0.2)
                weights[p + "ffn_down.weight"] = rand(D * F, 0.2)
                if arch == "qwen2" {
                    weights[p + "attn_q.bias"] = rand(H * hd, 0.5)
                    weights[p + "attn_k.bias"] = rand(KV * hd, 0.5)
                    weights[p + "attn_v.bias"] = rand(KV * hd, 0.5)
                }
            }
            weights["output_norm.weight"] = rand(D, 0.5).map { 1 + $0 }
            if arch == "qwen2" { weights["output.weight"] = rand(V * D, 0.3) }
            if quantize {
                // The reference sees the Q8_0-rounded values the file will hold.
                for (k, v) in weights where k.hasSuffix(".weight") && !k.contains("norm") {
                    weights[k] = Tiny.q8(v).1
                }
            }
        }

        /// Q8_0 blocks of v, and their dequantized values.
        static func q8(_ v: [Float]) -> ([UInt8], [Float]) {
            var b: [UInt8] = [], out: [Float] = []
            for s in stride(from: 0, to: v.count, by: 32) {
                let blk = v[s..<(s + 32)]
                let amax = blk.map { abs($0) }.max()!
                let d = Float(Float16(amax / 127))
                b += f16Bytes(d)
                for x in blk {
                    let q = d == 0 ? 0 : max(-127, min(127, Int((x / d).rounded())))
                    b.append(UInt8(bitPattern: Int8(q))); out.append(Float(q) * d)
                }
            }
            return (b, out)
        }

        func write(_ path: String) throws {
            var w = GGUFWriter()
            w.add("general.architecture", .string(arch))
            w.add("\(arch).block_count", .u32(UInt32(L)))
            w.add("\(arch).context_length", .u32(64))
            w.add("\(arch).embedding_length", .u32(UInt32(D)))
            w.add("\(arch).feed_forward_length", .u32(UInt32(F)))
            w.add("\(arch).attention.head_count", .u32(UInt32(H)))
            w.add("\(arch).attention.head_count_kv", .u32(UInt32(KV)))
            w.add("\(arch).attention.layer_norm_rms_epsilon", .f32(1e-5))
            w.add("\(arch).rope.freq_base", .f32(ropeBase))
            for (name, v) in weights.sorted(by: { $0.key < $1.key }) {
                let shape: [Int]
                switch name {
                case let n where n.hasSuffix("bias") || n.contains("norm"): shape = [v.count]
                case let n where n.hasSuffix("attn_output.weight"): shape = [H * hd, D]
                case let n where n.hasSuffix("ffn_down.weight"): shape = [F, D]
                case let n where n.hasSuffix("_q.weight") || n.hasSuffix("_k.weight") || n.hasSuffix("_v.weight")
                    || n.hasSuffix("gate.weight") || n.hasSuffix("up.weight") || n == "token_embd.weight" || n == "output.weight":
                    shape = [D, v.count / D]
                default: fatalError(name)
                }
                if quantize && shape.count == 2 { w.addRaw(name, type: .q8_0, shape: shape, Tiny.q8(v).0) }
                else { w.addF32(name, shape: shape, v) }
            }
            try w.write(to: path)
        }

        /// Logits after each token of `tokens`, by the book, in Double.
        func reference(_ tokens: [Int]) -> [[Double]] {
            func W(_ n: String) -> [Double] { weights[n]!.map(Double.init) }
            func mv(_ m: [Double], _ x: [Double], rows: Int) -> [Double] {
                let cols = x.count
                return (0..<rows).map { r in (0..<cols).reduce(0.0) { $0 + m[r * cols + $1] * x[$1] } }
            }
            func rms(_ x: [Double], _ w: [Double]) -> [Double] {
                let s = 1 / (x.reduce(0) { $0 + $1 * $1 } / Double(x.count) + 1e-5).squareRoot()
                return zip(x, w).map { $0 * s * $1 }
            }
            func rope(_ v: inout [Double], heads: Int, pos: Int) {
                for h in 0..<heads { for i in 0..<(hd / 2) {
                    let th = Double(pos) * pow(Double(ropeBase), -2.0 * Double(i) / Double(hd))
                    let (a, b) = arch == "qwen2" ? (h * hd + i, h * hd + i + hd / 2) : (h * hd + 2 * i, h * hd + 2 * i + 1)
                    let x0 = v[a], x1 = v[b]
                    v[a] = x0 * cos(th) - x1 * sin(th); v[b] = x0 * sin(th) + x1 * cos(th)
                } }
            }
            var kc = [[[Double]]](repeating: [], count: L), vc = kc
            var out: [[Double]] = []
            let emb = W("token_embd.weight")
            for (pos, tok) in tokens.enumerated() {
                var x = Array(emb[(tok * D)..<((tok + 1) * D)])
                for l in 0..<L {
                    let p = "blk.\(l)."
                    let h = rms(x, W(p + "attn_norm.weight"))
                    var q = mv(W(p + "attn_q.weight"), h, rows: H * hd)
                    var k = mv(W(p + "attn_k.weight"), h, rows: KV * hd)
                    var v = mv(W(p + "attn_v.weight"), h, rows: KV * hd)
                    if arch == "qwen2" {
                        q = zip(q, W(p + "attn_q.bias")).map(+); k = zip(k, W(p + "attn_k.bias")).map(+); v = zip(v, W(p + "attn_v.bias")).map(+)
                    }
                    rope(&q, heads: H, pos: pos); rope(&k, heads: KV, pos: pos)
                    // the engine keeps queries, keys and values at half precision (as llama.cpp's f16 cache)
                    func half(_ a: [Double]) -> [Double] { a.map { Double(Float(Float16(Float($0)))) } }
                    q = half(q); k = half(k); v = half(v)
                    kc[l].append(k); vc[l].append(v)
                    var att = [Double](repeating: 0, count: H * hd)
                    for hh in 0..<H {
                        let g = hh / (H / KV)
                        var s = (0...pos).map { j in (0..<hd).reduce(0.0) { $0 + q[hh * hd + $1] * kc[l][j][g * hd + $1] } / Double(hd).squareRoot() }
                        let m = s.max()!
                        s = s.map { exp($0 - m) }
                        let z = s.reduce(0, +)
                        // and the softmax weights at half precision, as llama.cpp's KQ·V with an f16 V cache
                        let pw = half(s.map { $0 / z })
                        for j in 0...pos { for i in 0..<hd { att[hh * hd + i] += pw[j] * vc[l][j][g * hd + i] } }
                    }
                    x = zip(x, mv(W(p + "attn_output.weight"), att, rows: D)).map(+)
                    let h2 = rms(x, W(p + "ffn_norm.weight"))
                    let gt = mv(W(p + "ffn_gate.weight"), h2, rows: F), up = mv(W(p + "ffn_up.weight"), h2, rows: F)
                    let act = zip(gt, up).map { $0 / (1 + exp(-$0)) * $1 }
                    x = zip(x, mv(W(p + "ffn_down.weight"), act, rows: D)).map(+)
                }
                let xn = rms(x, W("output_norm.weight"))
                out.append(mv(W(arch == "qwen2" ? "output.weight" : "token_embd.weight"), xn, rows: V))
            }
            return out
        }
    }

    func check(arch: String, quantize: Bool, tolerance: Double) throws {
        let tiny = Tiny(arch: arch, quantize: quantize, seed: arch == "qwen2" ? 21 : 12)
        let path = tempPath("tiny-\(arch)-\(quantize).gguf")
        try tiny.write(path)
        let m = try LlamaModel(path: path, contextLimit: nil, maxBatch: 4)
        XCTAssertEqual(m.config.contextLength, 64)
        XCTAssertEqual(m.config.ropeLayout, arch == "qwen2" ? .halves : .adjacent)
        let tokens = [3, 17, 5, 40, 22, 9, 31, 0]
        let ref = tiny.reference(tokens)
        // a prompt of 6 (in chunks of 4: tests chunking too), then 2 single-token steps on the cache
        try m.forward(tokens[0..<6].map(Int32.init), pos0: 0)
        func compare(_ want: [Double], _ step: String) {
            let scale = want.map { abs($0) }.max()!
            for i in 0..<tiny.V {
                XCTAssertEqual(Double(m.logits[i]), want[i], accuracy: tolerance * scale, "\(arch) \(step) logit \(i)")
            }
        }
        compare(ref[5], "prefill")
        try m.forward([Int32(tokens[6])], pos0: 6); compare(ref[6], "decode 1")
        try m.forward([Int32(tokens[7])], pos0: 7); compare(ref[7], "decode 2")
        XCTAssertThrowsError(try m.forward([Int32(tiny.V)], pos0: 8))
        XCTAssertThrowsError(try m.forward([1], pos0: 64))
    }

    // Float weights: 3e-4 of the largest logit. Engine and reference round q, k, v and the softmax weights to half
    // precision at the same places, but the engine's float32 arithmetic can land a value on the other side of a
    // half-precision rounding boundary than the double reference does: one f16 step (2⁻¹¹ relative) in that value,
    // ~1e-4 of the logits here.
    func testTinyLlamaFloatWeights() throws { try check(arch: "llama", quantize: false, tolerance: 3e-4) }
    func testTinyQwen2FloatWeights() throws { try check(arch: "qwen2", quantize: false, tolerance: 3e-4) }
    func testTinyLlamaQ8Weights() throws { try check(arch: "llama", quantize: true, tolerance: 0.03) }
    func testTinyQwen2Q8Weights() throws { try check(arch: "qwen2", quantize: true, tolerance: 0.03) }
}
