import Foundation
import XCTest
@testable import Engine

enum Fixtures {
    static func url(_ name: String) throws -> URL {
        guard let u = Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil) else {
            throw NSError(domain: "fixtures", code: 1, userInfo: [NSLocalizedDescriptionKey: "missing fixture \(name)"])
        }
        return u
    }
    static func tempDir(_ tag: String) throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("confab-asr-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }
}

/// Deterministic pseudo-random numbers (64-bit LCG) for test weights and noise.
struct LCG {
    var state: UInt64
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000   // [-1, 1]
    }
}

/// Writes a tiny random-weight CTranslate2 Whisper directory (model.bin v6 + config.json + vocabulary.txt):
/// width D, 2 heads, one encoder and one decoder layer, 80 mels, the real 51864-token English vocabulary layout.
/// Linear weights are stored as int8 with per-row float32 scales, the rest as float16 or float32, and the
/// output head is an alias of the embeddings, to exercise every load path.
enum TinyWhisper {
    static let D = 8, heads = 2, nMels = 80, audioCtx = 1500, textCtx = 448, vocab = 51864, ff = 32

    struct Var { let name: String; let dims: [Int]; let dtype: UInt8; let bytes: [UInt8] }

    /// `floatEmbeddings`: store the embeddings (the output head) as float32 holding the same float16 values, for
    /// the load path of models whose head is not float16.
    static func write(to dir: URL, seed: UInt64 = 1, floatEmbeddings: Bool = false) throws {
        var rng = LCG(state: seed)
        var vars: [Var] = []
        func f32(_ name: String, _ dims: [Int], scale: Float = 0.3, constant: Float? = nil) {
            let n = dims.reduce(1, *)
            var b: [UInt8] = []; b.reserveCapacity(4 * n)
            for _ in 0..<n { let v = constant ?? rng.next() * scale; withUnsafeBytes(of: v.bitPattern.littleEndian) { b += $0 } }
            vars.append(Var(name: name, dims: dims, dtype: 0, bytes: b))
        }
        func f16(_ name: String, _ dims: [Int], scale: Float = 0.3, widened: Bool = false) {
            let n = dims.reduce(1, *)
            var b: [UInt8] = []; b.reserveCapacity((widened ? 4 : 2) * n)
            for _ in 0..<n {
                let v = Float16(rng.next() * scale)
                if widened { withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { b += $0 } }
                else { withUnsafeBytes(of: v.bitPattern.littleEndian) { b += $0 } }
            }
            vars.append(Var(name: name, dims: dims, dtype: widened ? 0 : 4, bytes: b))
        }
        func i8(_ name: String, _ dims: [Int]) {     // int8 weight + per-row float32 scale (127 / max|row|)
            let n = dims.reduce(1, *), rows = dims[0]
            var q: [UInt8] = []; var scales: [UInt8] = []
            for _ in 0..<n { q.append(UInt8(bitPattern: Int8(truncatingIfNeeded: Int((rng.next() * 127).rounded())))) }
            for r in 0..<rows { let s = Float(127) / (0.3 + Float(r % 3) * 0.1); withUnsafeBytes(of: s.bitPattern.littleEndian) { scales += $0 } }
            vars.append(Var(name: name, dims: dims, dtype: 1, bytes: q))
            vars.append(Var(name: name + "_scale", dims: [rows], dtype: 0, bytes: scales))
        }
        func i16scalar(_ name: String, _ v: Int16) { vars.append(Var(name: name, dims: [], dtype: 2, bytes: withUnsafeBytes(of: v.littleEndian) { Array($0) })) }
        func ln(_ p: String) { f32(p + "/layer_norm/gamma", [D], constant: 1); f32(p + "/layer_norm/beta", [D], constant: 0) }
        func selfAttn(_ p: String) { ln(p); i8(p + "/linear_0/weight", [3 * D, D]); f16(p + "/linear_0/bias", [3 * D]); i8(p + "/linear_1/weight", [D, D]); f32(p + "/linear_1/bias", [D]) }
        func ffn(_ p: String) { ln(p); i8(p + "/linear_0/weight", [ff, D]); f16(p + "/linear_0/bias", [ff]); f16(p + "/linear_1/weight", [D, ff]); f16(p + "/linear_1/bias", [D]) }

        i16scalar("encoder/num_heads", Int16(heads)); i16scalar("decoder/num_heads", Int16(heads))
        f16("encoder/conv1/weight", [D, nMels, 3]); f16("encoder/conv1/bias", [D])
        f16("encoder/conv2/weight", [D, D, 3]); f16("encoder/conv2/bias", [D])
        f16("encoder/position_encodings/encodings", [audioCtx, D])
        selfAttn("encoder/layer_0/self_attention"); ffn("encoder/layer_0/ffn")
        f32("encoder/layer_norm/gamma", [D], constant: 1); f32("encoder/layer_norm/beta", [D], constant: 0)
        f16("decoder/embeddings/weight", [vocab, D], scale: 1, widened: floatEmbeddings)
        f16("decoder/position_encodings/encodings", [textCtx, D])
        selfAttn("decoder/layer_0/self_attention")
        let a = "decoder/layer_0/attention"
        ln(a); i8(a + "/linear_0/weight", [D, D]); f32(a + "/linear_0/bias", [D])
        i8(a + "/linear_1/weight", [2 * D, D]); f32(a + "/linear_1/bias", [2 * D])
        i8(a + "/linear_2/weight", [D, D]); f32(a + "/linear_2/bias", [D])
        ffn("decoder/layer_0/ffn")
        f32("decoder/layer_norm/gamma", [D], constant: 1); f32("decoder/layer_norm/beta", [D], constant: 0)
        vars.sort { $0.name < $1.name }

        var out: [UInt8] = []
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { out += $0 } }
        func str(_ s: String) { let u = Array(s.utf8); withUnsafeBytes(of: UInt16(u.count + 1).littleEndian) { out += $0 }; out += u; out.append(0) }
        u32(6); str("WhisperSpec"); u32(3); u32(vars.count)
        for v in vars {
            str(v.name); out.append(UInt8(v.dims.count)); for d in v.dims { u32(d) }
            out.append(v.dtype); u32(v.bytes.count); out += v.bytes
        }
        u32(1); str("decoder/projection/weight"); str("decoder/embeddings/weight")
        try Data(out).write(to: dir.appendingPathComponent("model.bin"))

        var lines = (0..<50256).map { "t\($0)" }
        lines += ["<|endoftext|>", "<|startoftranscript|>"]
        lines += ["<|en|>"] + (1..<99).map { "<|l\($0)|>" }
        lines += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
        lines += (0...1500).map { String(format: "<|%.2f|>", Double($0) * 0.02) }
        try (lines.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("vocabulary.txt"), atomically: true, encoding: .utf8)
        try #"{"alignment_heads": [], "lang_ids": [], "suppress_ids": [1, 2, 50257, 50357, 50358, 50359, 50360, 50361], "suppress_ids_begin": [220, 50256]}"#
            .write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    }
}
