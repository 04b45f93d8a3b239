import CKernels
import Foundation

/// The llama family as GGUF stores it: `llama` (SmolLM2, Llama 3.x, TinyLlama) and `qwen2` (Qwen2.5, with
/// Q/K/V biases). Pre-norm decoder: RMSNorm, grouped-query attention with RoPE, SwiGLU feed-forward,
/// tied or separate output head. Weights are read in place from the memory map; all run buffers are
/// allocated here at load (llama2.c run-state style).

public struct LlamaConfig: Sendable {
    public var architecture: String
    public var dim: Int              // D
    public var hiddenDim: Int        // F (feed-forward)
    public var layers: Int           // L
    public var heads: Int            // Hq
    public var kvHeads: Int          // Hkv
    public var headDim: Int          // hd
    public var vocabSize: Int        // V
    public var contextLength: Int    // from the file, capped by --ctx
    public var normEps: Float
    public var ropeBase: Float
    public var ropeDim: Int
    public var ropeLayout: RoPELayout
    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }
}

public struct LlamaLayer: @unchecked Sendable {
    var attnNorm: UnsafePointer<Float>    // [D]
    var wq, wk, wv, wo: QuantMatrix       // [Hq·hd, D], [Hkv·hd, D] ×2, [D, Hq·hd]
    var bq, bk, bv: UnsafePointer<Float>? // qwen2 biases
    var ffnNorm: UnsafePointer<Float>     // [D]
    var gate, up, down: QuantMatrix       // [F, D] ×2, [D, F]
}

public final class LlamaModel: @unchecked Sendable {
    public static let supportedArchitectures = ["llama", "qwen2"]

    public let file: GGUFFile
    public let config: LlamaConfig
    let layers: [LlamaLayer]
    let embedding: QuantMatrix            // [V, D]
    let output: QuantMatrix               // [V, D] (the embedding when tied)
    let outputNorm: UnsafePointer<Float>
    let rope: RoPE
    /// Norm weights and biases stored in F16/BF16 are converted once; F32 ones are used in place.
    private var ownedFloats: [FloatBuffer] = []

    /// Largest number of prompt tokens one forward call takes (longer prompts go in chunks).
    public let maxBatch: Int

    // Run state [maxBatch, ...] and the key/value cache [L, ctx, kvDim].
    let x, xb, xb2, q, att, hb, hb2: FloatBuffer
    let keyCache, valueCache: FloatBuffer
    let scores: FloatBuffer               // [Hq, ctx]
    let ropeScratch: FloatBuffer
    public let logits: FloatBuffer        // [V]
    /// Logits of the last `logitRows` tokens of a `forward` call [maxLogitRows, V] (speculative verification).
    public let rowLogits: FloatBuffer
    /// Most tokens a forward call can return logits for.
    public let maxLogitRows: Int
    let scratch: ActivationScratch

    public convenience init(path: String, contextLimit: Int? = 4096, maxBatch: Int = 128) throws {
        try self.init(file: try GGUFFile(path: path), contextLimit: contextLimit, maxBatch: maxBatch)
    }

    public init(file: GGUFFile, contextLimit: Int? = 4096, maxBatch: Int = 128) throws {
        self.file = file
        let path = file.path
        guard let arch = file.architecture else { throw ModelFileError(path: path, problem: "no general.architecture") }
        guard LlamaModel.supportedArchitectures.contains(arch) else {
            throw ModelFileError(path: path, problem: "unsupported architecture '\(arch)' (Confab runs: \(LlamaModel.supportedArchitectures.joined(separator: ", ")))")
        }
        let dim = try file.int("\(arch).embedding_length")
        let heads = try file.int("\(arch).attention.head_count")
        let kvHeads = (try? file.int("\(arch).attention.head_count_kv")) ?? heads
        guard dim > 0, heads > 0, kvHeads > 0, heads % kvHeads == 0, dim % heads == 0 || file.metadata["\(arch).attention.key_length"] != nil else {
            throw ModelFileError(path: path, problem: "inconsistent head counts (\(heads) heads, \(kvHeads) kv heads, dim \(dim))")
        }
        let headDim = (try? file.int("\(arch).attention.key_length")) ?? dim / heads
        let embd = try file.tensor("token_embd.weight")
        let fileCtx = (try? file.int("\(arch).context_length")) ?? 2048
        let ctx = max(16, min(fileCtx, contextLimit ?? fileCtx))
        let ropeDim = (try? file.int("\(arch).rope.dimension_count")) ?? headDim
        guard ropeDim <= headDim, ropeDim % 2 == 0 else { throw ModelFileError(path: path, problem: "rope dimension \(ropeDim) does not fit head size \(headDim)") }
        let cfg = LlamaConfig(
            architecture: arch, dim: dim, hiddenDim: try file.int("\(arch).feed_forward_length"),
            layers: try file.int("\(arch).block_count"), heads: heads, kvHeads: kvHeads, headDim: headDim,
            vocabSize: embd.rows, contextLength: ctx,
            normEps: file.float("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5,
            ropeBase: file.float("\(arch).rope.freq_base") ?? 10000, ropeDim: ropeDim,
            ropeLayout: arch == "qwen2" ? .halves : .adjacent)
        guard cfg.layers > 0, cfg.layers < 1000, cfg.hiddenDim > 0 else { throw ModelFileError(path: path, problem: "bad layer count or feed-forward size") }
        config = cfg
        self.maxBatch = maxBatch

        var owned: [FloatBuffer] = []
        func vector(_ name: String, _ n: Int) throws -> UnsafePointer<Float> {
            let t = try file.tensor(name)
            guard t.elementCount == n else { throw ModelFileError(path: path, problem: "tensor \(name) has \(t.elementCount) values, expected \(n)") }
            if t.type == .f32, Int(bitPattern: t.data) % 4 == 0 { return t.data.assumingMemoryBound(to: Float.self) }
            guard t.type == .f32 || t.type == .f16 || t.type == .bf16 || t.type.blockSize <= n else {
                throw ModelFileError(path: path, problem: "tensor \(name) has type \(t.type)")
            }
            let b = FloatBuffer(count: n)
            dequantizeRow(t.data, type: t.type, count: n, into: b.pointer)
            owned.append(b)
            return UnsafePointer(b.pointer)
        }
        func optionalVector(_ name: String, _ n: Int) throws -> UnsafePointer<Float>? {
            file.tensors[name] == nil ? nil : try vector(name, n)
        }
        func matrix(_ name: String, rows: Int, cols: Int) throws -> QuantMatrix {
            let t = try file.tensor(name)
            guard t.shape.count == 2, t.columns == cols, t.rows == rows else {
                throw ModelFileError(path: path, problem: "tensor \(name) has shape \(t.shape), expected [\(cols), \(rows)]")
            }
            return QuantMatrix(t)
        }
        var ls: [LlamaLayer] = []
        for i in 0..<cfg.layers {
            let p = "blk.\(i)."
            ls.append(LlamaLayer(
                attnNorm: try vector(p + "attn_norm.weight", dim),
                wq: try matrix(p + "attn_q.weight", rows: cfg.qDim, cols: dim),
                wk: try matrix(p + "attn_k.weight", rows: cfg.kvDim, cols: dim),
                wv: try matrix(p + "attn_v.weight", rows: cfg.kvDim, cols: dim),
                wo: try matrix(p + "attn_output.weight", rows: dim, cols: cfg.qDim),
                bq: try optionalVector(p + "attn_q.bias", cfg.qDim),
                bk: try optionalVector(p + "attn_k.bias", cfg.kvDim),
                bv: try optionalVector(p + "attn_v.bias", cfg.kvDim),
                ffnNorm: try vector(p + "ffn_norm.weight", dim),
                gate: try matrix(p + "ffn_gate.weight", rows: cfg.hiddenDim, cols: dim),
                up: try matrix(p + "ffn_up.weight", rows: cfg.hiddenDim, cols: dim),
                down: try matrix(p + "ffn_down.weight", rows: dim, cols: cfg.hiddenDim)))
        }
        layers = ls
        embedding = try matrix("token_embd.weight", rows: cfg.vocabSize, cols: dim)
        output = file.tensors["output.weight"] != nil ? try matrix("output.weight", rows: cfg.vocabSize, cols: dim) : embedding
        outputNorm = try vector("output_norm.weight", dim)
        var factors: [Float]? = nil
        if let rf = file.tensors["rope_freqs.weight"] {   // Llama 3.1+ long-context frequency factors
            guard rf.elementCount == ropeDim / 2, rf.type == .f32 else { throw ModelFileError(path: path, problem: "rope_freqs.weight has the wrong size or type") }
            factors = (0..<(ropeDim / 2)).map { rf.data.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
        }
        let base = RoPE(layout: cfg.ropeLayout, rotDim: ropeDim, base: cfg.ropeBase)
        if let factors {
            rope = RoPE(layout: cfg.ropeLayout, rotDim: ropeDim, invFreq: zip(base.invFreq, factors).map { $0 / $1 })
        } else {
            rope = base
        }
        ownedFloats = owned

        let B = maxBatch
        x = FloatBuffer(count: B * dim); xb = FloatBuffer(count: B * max(dim, cfg.qDim)); xb2 = FloatBuffer(count: B * dim)
        q = FloatBuffer(count: B * cfg.qDim); att = FloatBuffer(count: B * cfg.qDim)
        hb = FloatBuffer(count: B * cfg.hiddenDim); hb2 = FloatBuffer(count: B * cfg.hiddenDim)
        keyCache = FloatBuffer(count: cfg.layers * ctx * cfg.kvDim, zeroed: false)
        valueCache = FloatBuffer(count: cfg.layers * ctx * cfg.kvDim, zeroed: false)
        scores = FloatBuffer(count: heads * ctx)
        ropeScratch = FloatBuffer(count: headDim)
        logits = FloatBuffer(count: cfg.vocabSize)
        maxLogitRows = min(16, maxBatch)
        rowLogits = FloatBuffer(count: maxLogitRows * cfg.vocabSize)
        let widest = max(dim, cfg.hiddenDim, cfg.qDim)
        scratch = ActivationScratch(bytes: B * (widest / 32 + 1) * Int(40) + 4096)
    }

    /// Runs `tokens` at positions pos0..<pos0+T through the model (in chunks of maxBatch), filling the key/value
    /// cache, and leaves the logits of the last token in `logits`. Positions before pos0 must already be cached.
    /// With `logitRows` > 1 the logits of the last `logitRows` tokens also go to `rowLogits` (in order), as
    /// speculative decoding verifies a draft: each row is bit-identical to what a one-token call at that position
    /// gives (every kernel computes a token's row in the same steps whatever T is).
    public func forward(_ tokens: [Int32], pos0: Int, logitRows: Int = 1) throws {
        guard !tokens.isEmpty else { return }
        guard pos0 >= 0, pos0 + tokens.count <= config.contextLength else {
            throw LanguageModelError.contextFull(config.contextLength)
        }
        precondition(logitRows >= 1 && logitRows <= min(maxLogitRows, tokens.count), "logitRows out of range")
        for t in tokens where t < 0 || Int(t) >= config.vocabSize {
            throw LanguageModelError.badToken(Int(t))
        }
        var start = 0
        while start < tokens.count {
            var n = min(maxBatch, tokens.count - start)
            let rest = tokens.count - start - n
            if rest > 0 && rest < logitRows { n -= logitRows - rest }   // the last chunk holds every row asked for
            let rows = start + n == tokens.count ? logitRows : 0
            tokens.withUnsafeBufferPointer { forwardChunk(UnsafeBufferPointer(rebasing: $0[start..<(start + n)]), pos0: pos0 + start, logitRows: rows) }
            start += n
        }
    }

    /// Drops positions `from ..< from + drop` from the key/value cache of every layer: the `count` positions after
    /// them move down by `drop`, their keys turned back by `drop` positions (RoPE composes), rounded to float16 as
    /// the cache holds them. Dropping old turns from a long conversation then keeps the cache of the turns after
    /// them instead of running them all again (llama.cpp's context shift). In the first layer the moved keys and
    /// values are what running those tokens at their new positions gives (within float16 rounding); in the layers
    /// above they still carry what the dropped tokens contributed when they were run.
    public func shiftCache(from: Int, drop: Int, count: Int) {
        let c = config, kvd = c.kvDim, ctx = c.contextLength
        precondition(from >= 0 && drop > 0 && count >= 0 && from + drop + count <= ctx, "shiftCache out of range")
        guard count > 0 else { return }
        for l in 0..<c.layers {
            let kc = keyCache.pointer + l * ctx * kvd, vc = valueCache.pointer + l * ctx * kvd
            let bytes = count * kvd * MemoryLayout<Float>.stride
            memmove(kc + from * kvd, kc + (from + drop) * kvd, bytes)   // the ranges may overlap
            memmove(vc + from * kvd, vc + (from + drop) * kvd, bytes)
            // every moved row turns by the same -drop: as one row of count·Hkv heads, one cos/sin table
            rope.apply(kc + from * kvd, rows: 1, stride: count * kvd, heads: count * c.kvHeads, headDim: c.headDim,
                       pos0: -drop, scratch: ropeScratch.pointer)
            confab_round_f16(kc + from * kvd, count * kvd)
        }
    }

    /// One straight pass over T ≤ maxBatch tokens. Shapes in comments: T tokens, D dim, F ffn, hd head size.
    private func forwardChunk(_ tokens: UnsafeBufferPointer<Int32>, pos0: Int, logitRows: Int) {
        let c = config, T = tokens.count, D = c.dim, F = c.hiddenDim
        let qd = c.qDim, kvd = c.kvDim, ctx = c.contextLength
        let x = x.pointer, xb = xb.pointer, xb2 = xb2.pointer, q = q.pointer, att = att.pointer
        let hb = hb.pointer, hb2 = hb2.pointer

        // x[T, D] = embedding rows
        for t in 0..<T { embedding.dequantizeRow(Int(tokens[t]), into: x + t * D) }

        for (l, w) in layers.enumerated() {
            let kc = keyCache.pointer + l * ctx * kvd, vc = valueCache.pointer + l * ctx * kvd
            let kNew = kc + pos0 * kvd, vNew = vc + pos0 * kvd
            // attention block: xb = rms(x); q[T, Hq·hd], k/v[T, Hkv·hd] straight into the cache
            rmsNorm(x, rows: T, dim: D, weight: w.attnNorm, eps: c.normEps, into: xb)
            quantMatmulShared(w.wq, into: q, w.wk, into: kNew, w.wv, into: vNew, from: xb, rows: T, scratch: scratch)
            if let b = w.bq { addBias(q, b, rows: T, n: qd) }
            if let b = w.bk { addBias(kNew, b, rows: T, n: kvd) }
            if let b = w.bv { addBias(vNew, b, rows: T, n: kvd) }
            rope.apply(q, rows: T, stride: qd, heads: c.heads, headDim: c.headDim, pos0: pos0, scratch: ropeScratch.pointer)
            rope.apply(kNew, rows: T, stride: kvd, heads: c.kvHeads, headDim: c.headDim, pos0: pos0, scratch: ropeScratch.pointer)
            // Keys, values and queries at half precision, as llama.cpp's f16 cache (and its f16 Q·K products)
            // hold them: the cache stays float32 for the shared attention, the values match the reference's.
            confab_round_f16(kNew, T * kvd); confab_round_f16(vNew, T * kvd); confab_round_f16(q, T * qd)
            // att[T, Hq·hd] = softmax(q kᵀ/√hd, causal) v over the cached positions 0..<pos0+T
            cachedAttention(q: q, qStride: qd, keys: kc, values: vc, kvStride: kvd, out: att, rows: T, pos0: pos0,
                            heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                            scale: 1 / Float(c.headDim).squareRoot(), scores: scores.pointer, ctx: ctx)
            // x += Wo·att
            quantMatmul(w.wo, att, rows: T, into: xb2, scratch: scratch)
            addInPlace(x, xb2, count: T * D)

            // feed-forward: x += Wdown·(silu(Wgate·h) ⊙ Wup·h), h = rms(x)
            rmsNorm(x, rows: T, dim: D, weight: w.ffnNorm, eps: c.normEps, into: xb)
            quantMatmulSiluGate(w.gate, w.up, from: xb, rows: T, into: hb, up: hb2, scratch: scratch)
            quantMatmul(w.down, hb, rows: T, into: xb2, scratch: scratch)
            addInPlace(x, xb2, count: T * D)
        }
        guard logitRows > 0 else { return }
        if logitRows == 1 {
            // logits[V] = Wout · rms(x[T-1])
            let last = x + (T - 1) * D
            rmsNorm(last, rows: 1, dim: D, weight: outputNorm, eps: c.normEps, into: xb)
            quantMatmul(output, xb, rows: 1, into: logits.pointer, scratch: scratch)
            return
        }
        // rowLogits[R, V] = Wout · rms(x[T-R ..< T]); logits = the last row
        let R = logitRows, V = c.vocabSize
        rmsNorm(x + (T - R) * D, rows: R, dim: D, weight: outputNorm, eps: c.normEps, into: xb)
        quantMatmul(output, xb, rows: R, into: rowLogits.pointer, scratch: scratch)
        logits.pointer.update(from: rowLogits.pointer + (R - 1) * V, count: V)
    }

    @inline(__always) private func addBias(_ y: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, n: Int) {
        for t in 0..<rows { addInPlace(y + t * n, b, count: n) }
    }
}

public enum LanguageModelError: Error, CustomStringConvertible, Equatable {
    case contextFull(Int)
    case badToken(Int)
    case promptTooLong(Int, Int)
    public var description: String {
        switch self {
        case .contextFull(let n): return "the context of \(n) tokens is full"
        case .badToken(let t): return "token id \(t) is outside the vocabulary"
        case .promptTooLong(let n, let ctx): return "the prompt needs \(n) tokens but the context holds \(ctx) (raise --ctx or shorten it)"
        }
    }
}
