import COpenBLAS
import Foundation

/// Whisper hyperparameters, read from the weight shapes (and the num_heads scalars).
public struct WhisperConfig: Sendable, Equatable {
    public var nMels: Int, nAudioCtx: Int, nAudioState: Int, nAudioHead: Int, nAudioLayer: Int, nAudioFF: Int
    public var nTextCtx: Int, nTextState: Int, nTextHead: Int, nTextLayer: Int, nTextFF: Int, nVocab: Int
}

/// The arithmetic of Whisper's matrix products.
/// - `f32`: float32 weights and activations (OpenBLAS; the decoder reads float16 weights in place): the reference.
/// - `mixed`: f32, except the encoder's attention in 16-bit integers on AVX-512 VNNI (`attention16`: relative error
///   ~1e-4; transcripts identical to f32 on the parity set).
/// - `int8`: mixed, plus the linear layers, conv2, the cross-attention keys/values and the output head with int8
///   weights (quantized at load, per output row) and activations quantized per row as they come, summed exactly in
///   32 bits (VNNI): CTranslate2's int8 scheme, with about its accuracy (it changes a few transcripts, as
///   faster-whisper's int8 does).
/// - `bf16`: mixed, plus the encoder's linear layers, conv2 and the cross-attention keys/values with bfloat16 weights
///   (rounded at load) and activations (rounded per product), summed in float32 by AVX512-BF16's vdpbf16ps. Only
///   where the CPU has AVX512-BF16: elsewhere a model asked for bf16 runs `preferred` (and says so in `precision`).
///   On Intel Xeons up to Emerald Rapids vdpbf16ps issues at a quarter of the float32 FMA rate (half the multiply
///   rate), so bf16 is slower than mixed there; on AMD Zen 5 it runs at twice the multiply rate and the encoder
///   takes 0.7× mixed's time. `preferred` picks it by measuring the two instructions (`Bf16Kernel.fasterThanFloat`).
/// Softmax, layer norms, conv1 and the mel front end are float32 in all.
public enum WhisperPrecision: String, Sendable, CaseIterable {
    case f32, mixed, int8, bf16
    /// bf16 where the CPU has AVX512-BF16 and runs it at ≥ 1.5× float32's multiply rate (measured: AMD Zen 4/5), else
    /// mixed where it has AVX-512 VNNI, else f32. All three keep the transcripts of the parity set identical to f32's.
    public static var preferred: WhisperPrecision {
        guard Int8Kernel.hasVNNI && Attention16Workspace.available else { return .f32 }
        return Bf16Kernel.fasterThanFloat ? .bf16 : .mixed
    }
    /// What a model asked for this precision runs here: bf16 needs AVX512-BF16 (else `preferred`).
    public var supported: WhisperPrecision { self == .bf16 && !Bf16Kernel.available ? .preferred : self }
}

/// Pre-norm self-attention block: LN, fused Q|K|V [3D, D], out-projection [D, D].
struct WhisperSelfAttention {
    let lnG, lnB, qkvW, qkvB, outW, outB: FloatBuffer
    var qkvH, outH: UnsafeRawPointer?                     // decoder: the same weights as stored (float16), in place
    var qkvQ, outQ: Int8Matrix?                           // int8 precision
    var qkvB16, outB16: Bf16Matrix?                       // bf16 precision (encoder)
}
/// Pre-norm cross-attention block: LN, Q [D, D], fused K|V over the encoder output [2D, D], out-projection.
struct WhisperCrossAttention {
    let lnG, lnB, qW, qB, kvW, kvB, outW, outB: FloatBuffer
    var qH, outH: UnsafeRawPointer?
    var qQ, kvQ, outQ: Int8Matrix?
    var kvB16: Bf16Matrix?
}
/// Pre-norm feed-forward: LN, fc1 [F, D], GELU, fc2 [D, F].
struct WhisperFFN {
    let lnG, lnB, w1, b1, w2, b2: FloatBuffer
    var w1H, w2H: UnsafeRawPointer?
    var w1Q, w2Q: Int8Matrix?
    var w1B16, w2B16: Bf16Matrix?
}
struct WhisperEncoderLayer { let attn: WhisperSelfAttention; let ffn: WhisperFFN }
struct WhisperDecoderLayer { let attn: WhisperSelfAttention; let cross: WhisperCrossAttention; let ffn: WhisperFFN }

/// Whisper encoder–decoder on float32 weights (converted from f16/int8/int16 at load) and OpenBLAS.
/// Every run buffer is allocated here, once, for the largest shapes (a full 30-second window, `maxBeams` beams).
public final class WhisperModel: @unchecked Sendable {
    public let config: WhisperConfig
    public let maxBeams: Int
    public let precision: WhisperPrecision
    /// The int8 kernels (tests pin each variant; all give identical results).
    public let int8Kernel: Int8Kernel
    /// The bf16 kernel (tests pin the plain one; both give identical results).
    public let bf16Kernel: Bf16Kernel
    /// Query rows per block in the encoder's attention (scores of one block: 64 × 1500 floats = 384 KB, in L2).
    /// 128 and 256 measured the same (tiny.en encoder 282-338 ms on 2 threads, interleaved, best of 7).
    static let attentionBlock = 64

    // weights
    let conv1W, conv1B, conv2W, conv2B, encPos, encLnG, encLnB: FloatBuffer
    let encLayers: [WhisperEncoderLayer]
    /// int8: conv2's weights with the taps outermost, [D, 3·D] (k·D + c), for a product over windows of conv1's output.
    let conv2Q: Int8Matrix?
    /// bf16: the same [D, 3·D] matrix in bfloat16.
    let conv2B16: Bf16Matrix?
    let headQ: Int8Matrix?
    let decPos, decLnG, decLnB: FloatBuffer
    /// The token embeddings [V, D], also the tied output head. Stored as float16 (as CTranslate2 ships Whisper) they
    /// are read in place from the mapped file: each decoding step reads the whole head (51864×384 for tiny), a
    /// product bound by memory bandwidth, so half the bytes of a float32 copy is nearly half the time, with the same
    /// values. Any other storage is converted to float32 at load (`embedFloat`).
    let embedHalf: UnsafeRawPointer?
    let embedFloat: FloatBuffer?
    private let weightsFile: CTranslate2ModelFile     // keeps embedHalf's mapping alive
    let decLayers: [WhisperDecoderLayer]

    // encoder run state (maximum: Tm = 2·nAudioCtx mel frames, T = nAudioCtx positions)
    let eIn, eCols, eConv1, eConv2, eX, eH, eQKV, eAttn, eFF, eScores: FloatBuffer
    /// Encoder output [T, D] and, per decoder layer, the cross-attention keys transposed, kT [D, T] (row stride T
    /// of the current window), and values [T, D], for the current window.
    let encOut: FloatBuffer
    let crossKT, crossV: [FloatBuffer]
    public private(set) var encodedFrames = 0    // T of the current window

    // decoder run state
    let selfK, selfV: [FloatBuffer]               // per layer [maxBeams, nTextCtx, D]
    let dX, dH, dQKV, dAttn, dFF, dScores, dTmp: FloatBuffer
    let dCross: FloatBuffer                       // fewQueryAttention's scratch
    /// Logits rows [maxBeams, V] of the last decoder call.
    public let logits: FloatBuffer

    /// Quantized activations of the int8 products (the largest: T rows of 3·D for conv2, F for fc2).
    let qScratch: Int8Activations?
    /// Rounded activations of the bf16 products.
    let bScratch: Bf16Activations?
    /// int8: conv1's output as rows [1 + Tm, D], row 0 zero (conv2's left padding).
    let eConv1T: FloatBuffer
    /// int8 on AVX-512 VNNI (head size 64): the encoder's attention in 16-bit integers.
    let attention16Space: Attention16Workspace?

    /// `bf16Kernel` nil: bf16 on AVX512-BF16, or `precision.supported` where the CPU lacks it; a kernel given runs
    /// bf16 with it anywhere (the plain one emulates vdpbf16ps, slowly: tests).
    public init(file: CTranslate2ModelFile, maxBeams: Int = 5, precision: WhisperPrecision = .f32, int8Kernel: Int8Kernel = .best,
                bf16Kernel: Bf16Kernel? = nil) throws {
        let precision = bf16Kernel == nil ? precision.supported : precision
        let f = file
        let c1 = try f.dims("encoder/conv1/weight")
        guard c1.count == 3 else { throw ModelFileError(path: f.path, problem: "encoder/conv1/weight has shape \(c1), expected [D, n_mels, 3]") }
        let D = c1[0], nMels = c1[1]
        let encPosDims = try f.dims("encoder/position_encodings/encodings")
        let decPosDims = try f.dims("decoder/position_encodings/encodings")
        let embDims = try f.dims("decoder/embeddings/weight")
        guard encPosDims.count == 2, decPosDims.count == 2, embDims.count == 2, encPosDims[1] == D, embDims[1] == D, decPosDims[1] == D else {
            throw ModelFileError(path: f.path, problem: "inconsistent Whisper shapes (encoder pos \(encPosDims), decoder pos \(decPosDims), embeddings \(embDims))")
        }
        var nEnc = 0; while f.has("encoder/layer_\(nEnc)/self_attention/linear_0/weight") { nEnc += 1 }
        var nDec = 0; while f.has("decoder/layer_\(nDec)/self_attention/linear_0/weight") { nDec += 1 }
        guard nEnc > 0, nDec > 0 else { throw ModelFileError(path: f.path, problem: "no encoder/decoder layers (not a Whisper model)") }
        let encFF = try f.dims("encoder/layer_0/ffn/linear_0/weight")[0]
        let decFF = try f.dims("decoder/layer_0/ffn/linear_0/weight")[0]
        let encHeads = f.scalar("encoder/num_heads") ?? D / 64
        let decHeads = f.scalar("decoder/num_heads") ?? D / 64
        guard encHeads > 0, D % encHeads == 0, decHeads > 0, D % decHeads == 0 else {
            throw ModelFileError(path: f.path, problem: "num_heads does not divide the model width \(D)")
        }
        config = WhisperConfig(nMels: nMels, nAudioCtx: encPosDims[0], nAudioState: D, nAudioHead: encHeads, nAudioLayer: nEnc, nAudioFF: encFF,
                               nTextCtx: decPosDims[0], nTextState: D, nTextHead: decHeads, nTextLayer: nDec, nTextFF: decFF, nVocab: embDims[0])
        self.maxBeams = max(1, maxBeams)
        self.precision = precision
        self.int8Kernel = int8Kernel
        self.bf16Kernel = bf16Kernel ?? .best
        let q8 = precision == .int8, b16 = precision == .bf16
        func quant(_ b: FloatBuffer, _ n: Int, _ k: Int) -> Int8Matrix? { q8 ? Int8Matrix(b.pointer, outFeatures: n, inFeatures: k) : nil }
        func brain(_ b: FloatBuffer, _ n: Int, _ k: Int) -> Bf16Matrix? { b16 ? Bf16Matrix(b.pointer, outFeatures: n, inFeatures: k) : nil }

        func w(_ n: String, _ s: [Int]) throws -> FloatBuffer { try f.floats(n, expect: s) }
        func selfAttn(_ p: String) throws -> WhisperSelfAttention {
            var a = WhisperSelfAttention(lnG: try w("\(p)/layer_norm/gamma", [D]), lnB: try w("\(p)/layer_norm/beta", [D]),
                                         qkvW: try w("\(p)/linear_0/weight", [3 * D, D]), qkvB: try w("\(p)/linear_0/bias", [3 * D]),
                                         outW: try w("\(p)/linear_1/weight", [D, D]), outB: try w("\(p)/linear_1/bias", [D]))
            a.qkvQ = quant(a.qkvW, 3 * D, D); a.outQ = quant(a.outW, D, D)
            if p.hasPrefix("encoder") { a.qkvB16 = brain(a.qkvW, 3 * D, D); a.outB16 = brain(a.outW, D, D) }
            return a
        }
        func ffn(_ p: String, _ F: Int) throws -> WhisperFFN {
            var f = WhisperFFN(lnG: try w("\(p)/layer_norm/gamma", [D]), lnB: try w("\(p)/layer_norm/beta", [D]),
                               w1: try w("\(p)/linear_0/weight", [F, D]), b1: try w("\(p)/linear_0/bias", [F]),
                               w2: try w("\(p)/linear_1/weight", [D, F]), b2: try w("\(p)/linear_1/bias", [D]))
            f.w1Q = quant(f.w1, F, D); f.w2Q = quant(f.w2, D, F)
            if p.hasPrefix("encoder") { f.w1B16 = brain(f.w1, F, D); f.w2B16 = brain(f.w2, D, F) }
            return f
        }
        conv1W = try w("encoder/conv1/weight", [D, nMels, 3]); conv1B = try w("encoder/conv1/bias", [D])
        conv2W = try w("encoder/conv2/weight", [D, D, 3]); conv2B = try w("encoder/conv2/bias", [D])
        if q8 || b16 {
            // [o, c, k] → [o, k·D + c]: a row of conv2's input windows is then three consecutive rows of conv1's output
            let perm = FloatBuffer(count: D * 3 * D, zeroed: false)
            for o in 0..<D { for c in 0..<D { for k in 0..<3 { perm[o * 3 * D + k * D + c] = conv2W[(o * D + c) * 3 + k] } } }
            conv2Q = q8 ? Int8Matrix(perm.pointer, outFeatures: D, inFeatures: 3 * D) : nil
            conv2B16 = b16 ? Bf16Matrix(perm.pointer, outFeatures: D, inFeatures: 3 * D) : nil
        } else {
            conv2Q = nil; conv2B16 = nil
        }
        encPos = try w("encoder/position_encodings/encodings", encPosDims)
        encLayers = try (0..<nEnc).map { i in
            WhisperEncoderLayer(attn: try selfAttn("encoder/layer_\(i)/self_attention"), ffn: try ffn("encoder/layer_\(i)/ffn", encFF))
        }
        encLnG = try w("encoder/layer_norm/gamma", [D]); encLnB = try w("encoder/layer_norm/beta", [D])
        weightsFile = f
        if let (p, v) = f.stored("decoder/embeddings/weight"), v.dtype == .f16 {
            embedHalf = p; embedFloat = nil
            headQ = q8 ? Int8Matrix(half: p, outFeatures: embDims[0], inFeatures: D) : nil
        } else {
            embedHalf = nil
            let e = try w("decoder/embeddings/weight", embDims)
            embedFloat = e
            headQ = q8 ? Int8Matrix(e.pointer, outFeatures: embDims[0], inFeatures: D) : nil
        }
        decPos = try w("decoder/position_encodings/encodings", decPosDims)
        // The decoder's matrices are also kept as stored when that is float16: a decoding step multiplies them
        // with 1-5 rows, bound by memory bandwidth, and half the bytes is nearly half the time (same values).
        func half(_ n: String) -> UnsafeRawPointer? {
            guard let (p, v) = f.stored(n), v.dtype == .f16 else { return nil }
            return p
        }
        decLayers = try (0..<nDec).map { i in
            let p = "decoder/layer_\(i)/attention"
            var cross = WhisperCrossAttention(lnG: try w("\(p)/layer_norm/gamma", [D]), lnB: try w("\(p)/layer_norm/beta", [D]),
                                              qW: try w("\(p)/linear_0/weight", [D, D]), qB: try w("\(p)/linear_0/bias", [D]),
                                              kvW: try w("\(p)/linear_1/weight", [2 * D, D]), kvB: try w("\(p)/linear_1/bias", [2 * D]),
                                              outW: try w("\(p)/linear_2/weight", [D, D]), outB: try w("\(p)/linear_2/bias", [D]))
            cross.qH = half("\(p)/linear_0/weight"); cross.outH = half("\(p)/linear_2/weight")
            cross.qQ = quant(cross.qW, D, D); cross.kvQ = quant(cross.kvW, 2 * D, D); cross.outQ = quant(cross.outW, D, D)
            cross.kvB16 = brain(cross.kvW, 2 * D, D)
            let sp = "decoder/layer_\(i)/self_attention", fp = "decoder/layer_\(i)/ffn"
            var attn = try selfAttn(sp)
            attn.qkvH = half("\(sp)/linear_0/weight"); attn.outH = half("\(sp)/linear_1/weight")
            var ff = try ffn(fp, decFF)
            ff.w1H = half("\(fp)/linear_0/weight"); ff.w2H = half("\(fp)/linear_1/weight")
            return WhisperDecoderLayer(attn: attn, cross: cross, ffn: ff)
        }
        decLnG = try w("decoder/layer_norm/gamma", [D]); decLnB = try w("decoder/layer_norm/beta", [D])
        if f.has("decoder/projection/weight") {
            // Whisper ties the output head to the embeddings; a separate head would need its own buffer.
            guard f.variables["decoder/projection/weight"]?.offset == f.variables["decoder/embeddings/weight"]?.offset else {
                throw ModelFileError(path: f.path, problem: "untied decoder/projection/weight is not supported")
            }
        }

        // run state
        let T = config.nAudioCtx, Tm = 2 * T, C = config.nTextCtx
        eIn = FloatBuffer(count: nMels * Tm)
        eCols = FloatBuffer(count: max(nMels * 3 * Tm, D * 3 * T))
        eConv1 = FloatBuffer(count: D * Tm); eConv2 = FloatBuffer(count: D * T)
        eX = FloatBuffer(count: T * D); eH = FloatBuffer(count: T * D); eQKV = FloatBuffer(count: T * 3 * D)
        eAttn = FloatBuffer(count: T * D); eFF = FloatBuffer(count: T * encFF); eScores = FloatBuffer(count: encHeads * WhisperModel.attentionBlock * T)
        encOut = FloatBuffer(count: T * D)
        crossKT = (0..<nDec).map { _ in FloatBuffer(count: D * T) }
        crossV = (0..<nDec).map { _ in FloatBuffer(count: T * D) }
        let B = max(1, maxBeams)
        selfK = (0..<nDec).map { _ in FloatBuffer(count: B * C * D) }
        selfV = (0..<nDec).map { _ in FloatBuffer(count: B * C * D) }
        let R = max(C, B)
        dX = FloatBuffer(count: R * D); dH = FloatBuffer(count: R * D); dQKV = FloatBuffer(count: R * 3 * D)
        dAttn = FloatBuffer(count: R * D); dFF = FloatBuffer(count: R * decFF); dScores = FloatBuffer(count: R * max(C, T))
        dTmp = FloatBuffer(count: B * C * D)
        dCross = FloatBuffer(count: config.nTextHead * crossGroup * (D / config.nTextHead + T))
        logits = FloatBuffer(count: max(2, B) * config.nVocab)
        qScratch = q8 ? Int8Activations(maxRows: max(T, R), maxInFeatures: max(3 * D, encFF, decFF)) : nil
        bScratch = b16 ? Bf16Activations(maxRows: T, maxInFeatures: max(3 * D, encFF)) : nil
        eConv1T = FloatBuffer(count: q8 || b16 ? (Tm + 1) * D : 1)
        attention16Space = precision != .f32 && Attention16Workspace.available && D / encHeads == 64 ? Attention16Workspace(heads: encHeads, maxKeys: T) : nil
    }

    // MARK: Encoder

    /// Encodes `frames` mel frames (even, ≤ 2·nAudioCtx) of `mel` ([nMels, stride] channels-first, starting at column
    /// `offset`; columns past the end of `available` count as zeros, as pad_or_trim pads). Only frames/2 positions
    /// are computed, with the positional encodings sliced to match — the short-utterance path.
    /// Leaves encOut [T, D] and crossKV for the decoder. Returns false, leaving them incomplete, when the calling
    /// task is cancelled (checked between layers: a speculative recognition the user talked over stops early).
    @discardableResult
    public func encode(mel: UnsafePointer<Float>, stride: Int, offset: Int, available: Int, frames Tm: Int) -> Bool {
        let D = config.nAudioState, H = config.nAudioHead, nMels = config.nMels
        let T = Tm / 2
        encodedFrames = T
        // x [nMels, Tm]: copy the window (zero beyond the content).
        let inp = eIn
        for m in 0..<nMels {
            let src = mel + m * stride + offset, dst = inp.pointer + m * Tm
            let n = max(0, min(Tm, available - offset))
            if n > 0 { dst.update(from: src, count: n) }
            if n < Tm { (dst + n).update(repeating: 0, count: Tm - n) }
        }
        let x = eX.pointer, pos = encPos.pointer
        if conv2Q != nil || conv2B16 != nil {
            // conv1 as rows [Tm, D] (after a zero row): conv2's input window for position t is then rows 2t...2t+2,
            // one int8 product over overlapping rows 2·D apart, straight into x [T, D]
            let cols = eCols.pointer, K1 = nMels * 3
            for c in 0..<nMels {
                let xc = inp.pointer + c * Tm
                for k in 0..<3 {
                    let col = cols + (c * 3 + k) * Tm
                    col[0] = k == 0 ? 0 : xc[k - 1]
                    (col + 1).update(from: xc + k, count: Tm - 2)
                    col[Tm - 1] = k == 2 ? 0 : xc[Tm - 2 + k]
                }
            }
            let c1 = eConv1T.pointer
            c1.update(repeating: 0, count: D)
            sgemm(transA: true, transB: true, M: Tm, N: D, K: K1, cols, lda: Tm, conv1W.pointer, ldb: K1, c1 + D, ldc: D)
            addBias(conv1B.pointer, to: c1 + D, rows: Tm, outFeatures: D)
            parallelGELU(c1 + D, D * Tm)
            if let conv2Q, let qs = qScratch {
                int8Linear(c1, rows: T, rowStride: 2 * D, weight: conv2Q, bias: conv2B.pointer, into: x, scratch: qs, kernel: int8Kernel)
            } else if let conv2B16, let bs = bScratch {
                bf16Linear(c1, rows: T, rowStride: 2 * D, weight: conv2B16, bias: conv2B.pointer, into: x, scratch: bs, kernel: bf16Kernel)
            }
            parallelGELU(x, D * T)
            for i in 0..<(T * D) { x[i] += pos[i] }
        } else {
            // conv1 (k3, pad 1) → [D, Tm], GELU; conv2 (k3, stride 2, pad 1) → [D, T], GELU
            conv1d(inp.pointer, channels: nMels, length: Tm, weight: conv1W.pointer, bias: conv1B.pointer, outChannels: D, kernel: 3,
                   stride: 1, padding: 1, into: eConv1.pointer, columns: eCols.pointer)
            parallelGELU(eConv1.pointer, D * Tm)
            conv1d(eConv1.pointer, channels: D, length: Tm, weight: conv2W.pointer, bias: conv2B.pointer, outChannels: D, kernel: 3,
                   stride: 2, padding: 1, into: eConv2.pointer, columns: eCols.pointer)
            parallelGELU(eConv2.pointer, D * T)
            // x [T, D] = conv2ᵀ + pos[0..<T]
            let c2 = eConv2.pointer
            for t in 0..<T { for d in 0..<D { x[t * D + d] = c2[d * T + t] + pos[t * D + d] } }
        }
        let scale = 1 / Float(D / H).squareRoot()
        for L in encLayers {
            if Task.isCancelled { return false }
            // self-attention: x += out(attn(LN(x)))
            layerNorm(x, rows: T, dim: D, gamma: L.attn.lnG.pointer, beta: L.attn.lnB.pointer, into: eH.pointer)
            encLinear(eH.pointer, rows: T, inFeatures: D, weight: L.attn.qkvW, L.attn.qkvQ, L.attn.qkvB16, bias: L.attn.qkvB.pointer, outFeatures: 3 * D, into: eQKV.pointer)
            let q = eQKV.pointer
            if let ws = attention16Space {
                attention16(q: q, qStride: 3 * D, k: q + D, kStride: 3 * D, v: q + 2 * D, vStride: 3 * D, out: eAttn.pointer, outStride: D,
                            queries: T, keys: T, heads: H, scale: scale, workspace: ws)
            } else {
            blockedAttention(q: q, qStride: 3 * D, k: q + D, kStride: 3 * D, v: q + 2 * D, vStride: 3 * D, out: eAttn.pointer, outStride: D,
                             queries: T, keys: T, heads: H, headDim: D / H, scale: scale, block: WhisperModel.attentionBlock, scratch: eScores.pointer)
            }
            encLinear(eAttn.pointer, rows: T, inFeatures: D, weight: L.attn.outW, L.attn.outQ, L.attn.outB16, bias: L.attn.outB.pointer, outFeatures: D, into: x, accumulate: true)
            // feed-forward: x += fc2(GELU(fc1(LN(x))))
            let F = config.nAudioFF
            layerNorm(x, rows: T, dim: D, gamma: L.ffn.lnG.pointer, beta: L.ffn.lnB.pointer, into: eH.pointer)
            encLinear(eH.pointer, rows: T, inFeatures: D, weight: L.ffn.w1, L.ffn.w1Q, L.ffn.w1B16, bias: L.ffn.b1.pointer, outFeatures: F, into: eFF.pointer)
            parallelGELU(eFF.pointer, T * F)
            encLinear(eFF.pointer, rows: T, inFeatures: F, weight: L.ffn.w2, L.ffn.w2Q, L.ffn.w2B16, bias: L.ffn.b2.pointer, outFeatures: D, into: x, accumulate: true)
        }
        layerNorm(x, rows: T, dim: D, gamma: encLnG.pointer, beta: encLnB.pointer, into: encOut.pointer)
        // cross-attention keys and values, once per window: kT[l] [D, T] = Wk · encOutᵀ + bk, v[l] [T, D] = encOut · Wvᵀ + bv
        for (l, L) in decLayers.enumerated() {
            let kT = crossKT[l].pointer, kB = L.cross.kvB.pointer
            if L.cross.kvQ != nil || L.cross.kvB16 != nil {
                // [T, 2D] = K | V rows, then K transposed
                let kv = eQKV.pointer, v = crossV[l].pointer
                if let kvQ = L.cross.kvQ, let qs = qScratch {
                    int8Linear(encOut.pointer, rows: T, weight: kvQ, bias: kB, into: kv, scratch: qs, kernel: int8Kernel)
                } else if let kvB16 = L.cross.kvB16, let bs = bScratch {
                    bf16Linear(encOut.pointer, rows: T, weight: kvB16, bias: kB, into: kv, scratch: bs, kernel: bf16Kernel)
                }
                for t in 0..<T {
                    let row = kv + t * 2 * D
                    for d in 0..<D { kT[d * T + t] = row[d] }
                    (v + t * D).update(from: row + D, count: D)
                }
                continue
            }
            matmul(L.cross.kvW.pointer, encOut.pointer, into: kT, M: D, N: T, K: D, transposeB: true)
            for d in 0..<D { let b = kB[d], row = kT + d * T; for t in 0..<T { row[t] += b } }
            linear(encOut.pointer, rows: T, inFeatures: D, weight: L.cross.kvW.pointer + D * D, bias: kB + D, outFeatures: D, into: crossV[l].pointer)
        }
        return true
    }

    /// y (+)= x · Wᵀ + b in the model's precision.
    @inline(__always)
    private func encLinear(_ x: UnsafePointer<Float>, rows T: Int, inFeatures: Int, weight: FloatBuffer, _ q: Int8Matrix?, _ h: Bf16Matrix?,
                           bias: UnsafePointer<Float>, outFeatures: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        if let q, let qs = qScratch {
            int8Linear(x, rows: T, weight: q, bias: bias, into: y, accumulate: accumulate, scratch: qs, kernel: int8Kernel)
        } else if let h, let bs = bScratch {
            bf16Linear(x, rows: T, weight: h, bias: bias, into: y, accumulate: accumulate, scratch: bs, kernel: bf16Kernel)
        } else {
            linear(x, rows: T, inFeatures: inFeatures, weight: weight.pointer, bias: bias, outFeatures: outFeatures, into: y, accumulate: accumulate)
        }
    }

    private func parallelGELU(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        nonisolated(unsafe) let p = p
        EngineThreads.parallelChunks(n, minChunk: 65536) { r in geluInPlaceFast(p + r.lowerBound, count: r.count) }
    }

    // MARK: Decoder

    /// Prefill: runs `tokens` at positions start..<start+n for beam 0, filling its self-attention cache.
    /// Logits for the rows in `logitRows` (indices into tokens) land in `logits` rows 0, 1, ….
    public func decodePrefill(_ tokens: [Int], start: Int, logitRows: [Int]) {
        let n = tokens.count
        decoderLayers(tokens: tokens, rows: n, prefillStart: start, stepPosition: 0)
        computeLogits(rows: logitRows)
    }

    /// One step for `tokens.count` beams, beam b's token at `position` with beam b's cache. Logits row b per beam.
    public func decodeStep(_ tokens: [Int], position: Int) {
        decoderLayers(tokens: tokens, rows: tokens.count, prefillStart: nil, stepPosition: position)
        computeLogits(rows: Array(0..<tokens.count))
    }

    /// Beam b's cache becomes old beam parents[b]'s cache (positions 0..<length).
    public func reorderCache(parents: [Int], length: Int) {
        let D = config.nTextState, C = config.nTextCtx
        if parents.enumerated().allSatisfy({ $0.offset == $0.element }) { return }
        for cache in selfK + selfV {
            for (b, p) in parents.enumerated() { (dTmp.pointer + b * C * D).update(from: cache.pointer + p * C * D, count: length * D) }
            for b in 0..<parents.count { (cache.pointer + b * C * D).update(from: dTmp.pointer + b * C * D, count: length * D) }
        }
    }

    /// Copies beam 0's cache (0..<length) to beams 1..<count (after the prompt prefill).
    public func broadcastCache(count: Int, length: Int) {
        reorderCache(parents: Array(repeating: 0, count: count), length: length)
    }

    private func decoderLayers(tokens: [Int], rows R: Int, prefillStart: Int?, stepPosition: Int) {
        let D = config.nTextState, H = config.nTextHead, C = config.nTextCtx, F = config.nTextFF
        let T = encodedFrames
        let x = dX.pointer
        // x [R, D] = embed[token] + pos[position]
        for r in 0..<R {
            let tok = min(max(tokens[r], 0), config.nVocab - 1)
            let p = min(prefillStart.map { $0 + r } ?? stepPosition, C - 1)
            let ps = decPos.pointer + p * D, xr = x + r * D
            if let h = embedHalf {
                for d in 0..<D { xr[d] = Float(h.loadUnaligned(fromByteOffset: 2 * (tok * D + d), as: Float16.self)) + ps[d] }
            } else if let e = embedFloat?.pointer {
                for d in 0..<D { xr[d] = e[tok * D + d] + ps[d] }
            }
        }
        let scale = 1 / Float(D / H).squareRoot()
        for (l, L) in decLayers.enumerated() {
            // masked self-attention with the cache
            layerNorm(x, rows: R, dim: D, gamma: L.attn.lnG.pointer, beta: L.attn.lnB.pointer, into: dH.pointer)
            decoderLinear(dH.pointer, rows: R, inFeatures: D, weight: L.attn.qkvW, half: L.attn.qkvH, q: L.attn.qkvQ, bias: L.attn.qkvB.pointer, outFeatures: 3 * D, into: dQKV.pointer)
            let K = selfK[l].pointer, V = selfV[l].pointer, qkv = dQKV.pointer
            if let s = prefillStart {
                for r in 0..<R {
                    (K + (s + r) * D).update(from: qkv + r * 3 * D + D, count: D)
                    (V + (s + r) * D).update(from: qkv + r * 3 * D + 2 * D, count: D)
                }
                attention(q: qkv, qStride: 3 * D, k: K, kStride: D, v: V, vStride: D, out: dAttn.pointer, outStride: D,
                          queries: R, keys: s + R, heads: H, kvHeads: H, headDim: D / H, scale: scale, causalOffset: s, scores: dScores.pointer)
            } else {
                let p = stepPosition
                for b in 0..<R {
                    let kb = K + b * C * D, vb = V + b * C * D
                    (kb + p * D).update(from: qkv + b * 3 * D + D, count: D)
                    (vb + p * D).update(from: qkv + b * 3 * D + 2 * D, count: D)
                    attention(q: qkv + b * 3 * D, qStride: 3 * D, k: kb, kStride: D, v: vb, vStride: D, out: dAttn.pointer + b * D, outStride: D,
                              queries: 1, keys: p + 1, heads: H, kvHeads: H, headDim: D / H, scale: scale, scores: dScores.pointer)
                }
            }
            decoderLinear(dAttn.pointer, rows: R, inFeatures: D, weight: L.attn.outW, half: L.attn.outH, q: L.attn.outQ, bias: L.attn.outB.pointer, outFeatures: D, into: x, accumulate: true)
            // cross-attention over the encoder output (all rows share K/V)
            layerNorm(x, rows: R, dim: D, gamma: L.cross.lnG.pointer, beta: L.cross.lnB.pointer, into: dH.pointer)
            decoderLinear(dH.pointer, rows: R, inFeatures: D, weight: L.cross.qW, half: L.cross.qH, q: L.cross.qQ, bias: L.cross.qB.pointer, outFeatures: D, into: dQKV.pointer)
            fewQueryAttention(q: dQKV.pointer, qStride: D, kT: crossKT[l].pointer, keys: T, v: crossV[l].pointer, vStride: D,
                              out: dAttn.pointer, outStride: D, rows: R, heads: H, headDim: D / H, scale: scale, scratch: dCross.pointer)
            decoderLinear(dAttn.pointer, rows: R, inFeatures: D, weight: L.cross.outW, half: L.cross.outH, q: L.cross.outQ, bias: L.cross.outB.pointer, outFeatures: D, into: x, accumulate: true)
            // feed-forward
            layerNorm(x, rows: R, dim: D, gamma: L.ffn.lnG.pointer, beta: L.ffn.lnB.pointer, into: dH.pointer)
            decoderLinear(dH.pointer, rows: R, inFeatures: D, weight: L.ffn.w1, half: L.ffn.w1H, q: L.ffn.w1Q, bias: L.ffn.b1.pointer, outFeatures: F, into: dFF.pointer)
            geluInPlaceFast(dFF.pointer, count: R * F)
            decoderLinear(dFF.pointer, rows: R, inFeatures: F, weight: L.ffn.w2, half: L.ffn.w2H, q: L.ffn.w2Q, bias: L.ffn.b2.pointer, outFeatures: D, into: x, accumulate: true)
        }
    }

    /// y[R, out] (+)= x[R, in] · Wᵀ + b for the decoder: W read as stored (float16) for a step's few rows, else the
    /// float32 path (a long prompt's prefill, other storage).
    private func decoderLinear(_ x: UnsafePointer<Float>, rows R: Int, inFeatures: Int, weight: FloatBuffer, half: UnsafeRawPointer?, q: Int8Matrix?,
                               bias b: UnsafePointer<Float>, outFeatures N: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        if let q, let qs = qScratch {
            int8Linear(x, rows: R, weight: q, bias: b, into: y, accumulate: accumulate, scratch: qs, kernel: int8Kernel)
            return
        }
        guard let half, R <= 8 else {
            linear(x, rows: R, inFeatures: inFeatures, weight: weight.pointer, bias: b, outFeatures: N, into: y, accumulate: accumulate)
            return
        }
        fewRowsLinearHalf(x, rows: R, inFeatures: inFeatures, weight: half, outFeatures: N, into: y, accumulate: accumulate)
        addBias(b, to: y, rows: R, outFeatures: N)
    }

    /// logits[i] = LN(x[rows[i]]) · embedᵀ (tied head).
    private func computeLogits(rows: [Int]) {
        let D = config.nTextState, V = config.nVocab
        for (i, r) in rows.enumerated() {
            layerNorm(dX.pointer + r * D, rows: 1, dim: D, gamma: decLnG.pointer, beta: decLnB.pointer, into: dH.pointer + i * D)
        }
        if let q = headQ, let qs = qScratch {
            int8Linear(dH.pointer, rows: rows.count, weight: q, bias: nil, into: logits.pointer, scratch: qs, kernel: int8Kernel)
        } else if let h = embedHalf {
            fewRowsLinearHalf(dH.pointer, rows: rows.count, inFeatures: D, weight: h, outFeatures: V, into: logits.pointer)
        } else if let e = embedFloat?.pointer {
            linear(dH.pointer, rows: rows.count, inFeatures: D, weight: e, bias: nil, outFeatures: V, into: logits.pointer)
        }
    }
}
