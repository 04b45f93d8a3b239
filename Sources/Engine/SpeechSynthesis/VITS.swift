import CKernels
import COpenBLAS
import Foundation

// VITS as exported by Piper (SynthesizerTrn.infer), channels-first [C, T] buffers, batch 1, no padding masks
// (one sentence per call, so every mask is all ones). Hyperparameters come from the weight shapes and the
// graph's conv attributes, so x_low/low/medium/high voices and multi-speaker voices load alike.

/// A Conv1d (or ConvTranspose1d) with its attributes. W is [Cout, Cin/groups, K] (transposed: [Cin, Cout, K]).
struct ConvLayer {
    let weight: Tensor
    let bias: Tensor?
    let outChannels: Int, inChannels: Int, kernel: Int
    let stride: Int, padding: Int, dilation: Int, groups: Int
    let transposed: Bool

    init(_ w: ONNXWeights, _ name: String, transposed: Bool = false, bias hasBias: Bool = true,
         dilation defaultDilation: Int = 1, stride defaultStride: Int = 1, groups defaultGroups: Int = 1,
         samePadding: Bool = false) throws {
        weight = try w.tensor(name + ".weight")
        guard weight.shape.count == 3 else {
            throw ModelFileError(path: w.path, problem: "\(name).weight has shape \(weight.shape), expected 3 dims")
        }
        bias = hasBias ? w.tensors[name + ".bias"] : nil
        self.transposed = transposed
        kernel = weight.shape[2]
        let a = w.convAttributes[name + ".weight"]
        if transposed {
            inChannels = weight.shape[0]; outChannels = weight.shape[1]
            stride = a?.stride ?? max(1, kernel / 2)
            padding = a?.padding ?? (kernel - stride) / 2
            dilation = 1; groups = 1
        } else {
            outChannels = weight.shape[0]
            groups = a?.groups ?? defaultGroups
            inChannels = weight.shape[1] * groups
            dilation = a?.dilation ?? defaultDilation
            stride = a?.stride ?? defaultStride
            // The encoder's FFN pads with a separate Pad node ("same" padding), so its Conv says 0.
            padding = samePadding ? (kernel * dilation - dilation) / 2 : (a?.padding ?? (kernel * dilation - dilation) / 2)
        }
        if let bias, bias.count != outChannels {
            throw ModelFileError(path: w.path, problem: "\(name).bias has \(bias.count) values for \(outChannels) channels")
        }
    }

    func outputLength(_ T: Int) -> Int {
        transposed ? (T - 1) * stride - 2 * padding + kernel
                   : conv1dOutputLength(T, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
    }

    /// Scratch floats `apply` needs for an input of length T.
    func columnsNeeded(_ T: Int) -> Int {
        transposed ? outChannels * kernel * T : (inChannels / groups) * kernel * outputLength(T)
    }

    /// x [Cin, T] → y [Cout, Tout]; returns Tout.
    @discardableResult
    func apply(_ x: UnsafePointer<Float>, length T: Int, into y: UnsafeMutablePointer<Float>,
               columns: UnsafeMutablePointer<Float>) -> Int {
        if transposed {
            convTranspose1d(x, channels: inChannels, length: T, weight: weight.pointer, bias: bias?.pointer,
                            outChannels: outChannels, kernel: kernel, stride: stride, padding: padding,
                            into: y, columns: columns)
        } else {
            conv1d(x, channels: inChannels, length: T, weight: weight.pointer, bias: bias?.pointer,
                   outChannels: outChannels, kernel: kernel, stride: stride, padding: padding,
                   dilation: dilation, groups: groups, into: y, columns: columns)
        }
        return outputLength(T)
    }
}

struct NormLayer {
    let gamma: Tensor, beta: Tensor
    init(_ w: ONNXWeights, _ name: String, channels: Int) throws {
        gamma = try w.tensor(name + ".gamma", shape: [channels])
        beta = try w.tensor(name + ".beta", shape: [channels])
    }
}

/// Grow-only scratch slots: sized by the longest sentence seen, reused by every later call.
final class ScratchPool {
    private var slots: [FloatBuffer] = []
    func get(_ slot: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
        while slots.count <= slot { slots.append(FloatBuffer(count: 1)) }
        if slots[slot].count < count { slots[slot] = FloatBuffer(count: count + count / 4, zeroed: false) }
        return slots[slot].pointer
    }
}

// MARK: Weights

struct EncoderLayer {
    let q, k, v, o: ConvLayer
    let relK, relV: Tensor          // [heads or 1, 2·window+1, dk]
    let norm1, norm2: NormLayer
    let ffn1, ffn2: ConvLayer
    /// The FFN's convolutions on the direct kernels (packed at load).
    let ffn1Direct, ffn2Direct: DirectConv
    init(q: ConvLayer, k: ConvLayer, v: ConvLayer, o: ConvLayer, relK: Tensor, relV: Tensor, norm1: NormLayer,
         norm2: NormLayer, ffn1: ConvLayer, ffn2: ConvLayer) {
        self.q = q; self.k = k; self.v = v; self.o = o; self.relK = relK; self.relV = relV
        self.norm1 = norm1; self.norm2 = norm2; self.ffn1 = ffn1; self.ffn2 = ffn2
        ffn1Direct = DirectConv(ffn1); ffn2Direct = DirectConv(ffn2)
    }
}

/// DDSConv: dilated depthwise-separable convs (dilation k^i) with LN and GELU.
struct DDSConv {
    let sep: [ConvLayer], pointwise: [ConvLayer]
    let norms1: [NormLayer], norms2: [NormLayer]
    init(_ w: ONNXWeights, _ name: String, channels: Int) throws {
        var s: [ConvLayer] = [], p: [ConvLayer] = [], n1: [NormLayer] = [], n2: [NormLayer] = []
        var i = 0
        while w.has("\(name).convs_sep.\(i).weight") {
            let k = try w.tensor("\(name).convs_sep.\(i).weight").shape[2]
            var d = 1
            for _ in 0..<i { d *= k }
            s.append(try ConvLayer(w, "\(name).convs_sep.\(i)", dilation: d, groups: channels))
            p.append(try ConvLayer(w, "\(name).convs_1x1.\(i)"))
            n1.append(try NormLayer(w, "\(name).norms_1.\(i)", channels: channels))
            n2.append(try NormLayer(w, "\(name).norms_2.\(i)", channels: channels))
            i += 1
        }
        guard i > 0 else { throw ModelFileError(path: w.path, problem: "missing \(name).convs_sep.0") }
        sep = s; pointwise = p; norms1 = n1; norms2 = n2
    }
}

struct ConvFlow {
    let pre: ConvLayer, convs: DDSConv, proj: ConvLayer
    let bins: Int
}

struct CouplingLayer {
    let pre: ConvLayer, post: ConvLayer
    let inLayers: [ConvLayer], resSkip: [ConvLayer]
    let cond: ConvLayer?
    /// in_layers on the direct kernels (packed at load).
    let inDirect: [DirectConv]
    init(pre: ConvLayer, post: ConvLayer, inLayers: [ConvLayer], resSkip: [ConvLayer], cond: ConvLayer?) {
        self.pre = pre; self.post = post; self.inLayers = inLayers; self.resSkip = resSkip; self.cond = cond
        inDirect = inLayers.map { DirectConv($0) }
    }
}

extension DirectConv {
    init(_ c: ConvLayer) {
        precondition(!c.transposed && c.stride == 1 && c.groups == 1)
        self.init(weight: c.weight.pointer, bias: c.bias?.pointer, outChannels: c.outChannels, inChannels: c.inChannels,
                  kernel: c.kernel, dilation: c.dilation, padding: c.padding)
    }
}

enum ResBlock {
    /// HiFi-GAN ResBlock1: pairs (dilated conv, plain conv). ResBlock2: single dilated convs.
    case one([(ConvLayer, ConvLayer)])
    case two([ConvLayer])
}

/// The whole network's weights, built from the initializers.
public struct VITSWeights: @unchecked Sendable {
    let hidden: Int, heads: Int, window: Int, inter: Int, numSymbols: Int
    let emb: Tensor
    let layers: [EncoderLayer]
    let proj: ConvLayer
    // Stochastic duration predictor (or the deterministic one).
    let sdp: (pre: ConvLayer, convs: DDSConv, proj: ConvLayer, cond: ConvLayer?, flows: [ConvFlow], m: Tensor, expNegLogs: Tensor)?
    let ddp: (conv1: ConvLayer, norm1: NormLayer, conv2: ConvLayer, norm2: NormLayer, proj: ConvLayer, cond: ConvLayer?)?
    let flows: [CouplingLayer]      // in forward order (flows.0, .2, .4, …)
    let decPre: ConvLayer, decCond: ConvLayer?
    let ups: [ConvLayer]
    let resblocks: [ResBlock]       // ups.count × kernels
    let decPost: ConvLayer
    let speakerEmb: Tensor?         // emb_g [speakers, gin]
    /// The residual blocks' convolutions for the direct kernels, packed at load (per resblock: ResBlock2's convs,
    /// or ResBlock1's pairs flattened); nil when a layer does not fit them (then the im2col path runs).
    let resDirect: [[DirectConv]]?
    let postDirect: DirectConv?
    /// Zeros each side of a row that the direct kernels read (the widest padding and reach, rounded to 16).
    let decoderHalo: (left: Int, right: Int)
    /// HiFi-GAN's reach each side: in frames for the whole decoder (the context a window needs), after conv_pre
    /// (frames) and after each upsampling stage (in that stage's samples), rounded up.
    let decoderReach: (total: Int, afterPre: Int, afterStage: [Int])
    public var numSpeakers: Int { speakerEmb?.shape[0] ?? 1 }
    public var hopLength: Int { ups.reduce(1) { $0 * $1.stride } }

    public init(_ w: ONNXWeights) throws {
        emb = try w.tensor("enc_p.emb.weight")
        guard emb.shape.count == 2 else { throw ModelFileError(path: w.path, problem: "enc_p.emb.weight is not 2-D") }
        numSymbols = emb.shape[0]; hidden = emb.shape[1]
        var ls: [EncoderLayer] = []
        var heads = 2, window = 4
        var i = 0
        while w.has("enc_p.encoder.attn_layers.\(i).conv_q.weight") {
            let p = "enc_p.encoder"
            let relK = try w.tensor("\(p).attn_layers.\(i).emb_rel_k")
            let relV = try w.tensor("\(p).attn_layers.\(i).emb_rel_v")
            guard relK.shape.count == 3, relK.shape[2] > 0, hidden % relK.shape[2] == 0, relK.shape[1] % 2 == 1,
                  relV.shape == relK.shape else {
                throw ModelFileError(path: w.path, problem: "\(p).attn_layers.\(i).emb_rel_k has shape \(relK.shape)")
            }
            heads = hidden / relK.shape[2]; window = (relK.shape[1] - 1) / 2
            ls.append(EncoderLayer(
                q: try ConvLayer(w, "\(p).attn_layers.\(i).conv_q"), k: try ConvLayer(w, "\(p).attn_layers.\(i).conv_k"),
                v: try ConvLayer(w, "\(p).attn_layers.\(i).conv_v"), o: try ConvLayer(w, "\(p).attn_layers.\(i).conv_o"),
                relK: relK, relV: relV,
                norm1: try NormLayer(w, "\(p).norm_layers_1.\(i)", channels: hidden),
                norm2: try NormLayer(w, "\(p).norm_layers_2.\(i)", channels: hidden),
                ffn1: try ConvLayer(w, "\(p).ffn_layers.\(i).conv_1", samePadding: true),
                ffn2: try ConvLayer(w, "\(p).ffn_layers.\(i).conv_2", samePadding: true)))
            i += 1
        }
        guard !ls.isEmpty else { throw ModelFileError(path: w.path, problem: "no encoder layers (enc_p.encoder.attn_layers.0)") }
        layers = ls; self.heads = heads; self.window = window
        proj = try ConvLayer(w, "enc_p.proj")
        inter = proj.outChannels / 2
        for l in ls where l.q.inChannels != hidden || l.ffn1.inChannels != hidden || l.ffn2.outChannels != hidden {
            _ = l
            throw ModelFileError(path: w.path, problem: "encoder layer shapes do not match hidden size \(hidden)")
        }

        speakerEmb = w.tensors["emb_g.weight"]
        let hasG = speakerEmb != nil
        if w.has("dp.flows.3.pre.weight") || w.has("dp.flows.1.pre.weight") {
            let pre = try ConvLayer(w, "dp.pre")
            let convs = try DDSConv(w, "dp.convs", channels: pre.outChannels)
            var fl: [ConvFlow] = []
            var j = 1
            while j < 16 {
                if w.has("dp.flows.\(j).pre.weight") && j != 1 {
                    let fpre = try ConvLayer(w, "dp.flows.\(j).pre")
                    let fproj = try ConvLayer(w, "dp.flows.\(j).proj")
                    fl.append(ConvFlow(pre: fpre, convs: try DDSConv(w, "dp.flows.\(j).convs", channels: fpre.outChannels),
                                       proj: fproj, bins: (fproj.outChannels + 1) / 3))
                }
                j += 2
            }
            let m = try w.tensor("dp.flows.0.m", shape: [2, 1])
            let e: Tensor
            if let folded = w.tensors["/dp/flows.0/Exp_output_0"] {
                e = folded
            } else {
                let logs = try w.tensor("dp.flows.0.logs", shape: [2, 1])
                e = Tensor(shape: [2, 1], values: [exp(-logs.pointer[0]), exp(-logs.pointer[1])])
            }
            sdp = (pre, convs, try ConvLayer(w, "dp.proj"), hasG ? try ConvLayer(w, "dp.cond") : nil, fl, m, e)
            ddp = nil
        } else if w.has("dp.conv_1.weight") {
            let c1 = try ConvLayer(w, "dp.conv_1")
            ddp = (c1, try NormLayer(w, "dp.norm_1", channels: c1.outChannels), try ConvLayer(w, "dp.conv_2"),
                   try NormLayer(w, "dp.norm_2", channels: c1.outChannels), try ConvLayer(w, "dp.proj"),
                   hasG ? try ConvLayer(w, "dp.cond") : nil)
            sdp = nil
        } else {
            throw ModelFileError(path: w.path, problem: "no duration predictor (dp.*) in the model")
        }

        var cl: [CouplingLayer] = []
        var f = 0
        while w.has("flow.flows.\(f).pre.weight") {
            var ins: [ConvLayer] = [], rs: [ConvLayer] = []
            var n = 0
            while w.has("flow.flows.\(f).enc.in_layers.\(n).weight") {
                ins.append(try ConvLayer(w, "flow.flows.\(f).enc.in_layers.\(n)"))
                rs.append(try ConvLayer(w, "flow.flows.\(f).enc.res_skip_layers.\(n)"))
                n += 1
            }
            guard n > 0 else { throw ModelFileError(path: w.path, problem: "flow.flows.\(f).enc has no in_layers (unresolved onnx::Conv weights?)") }
            for c in ins where c.stride != 1 || c.groups != 1 {
                throw ModelFileError(path: w.path, problem: "flow.flows.\(f).enc.in_layers: stride \(c.stride), groups \(c.groups) (expected 1)")
            }
            cl.append(CouplingLayer(pre: try ConvLayer(w, "flow.flows.\(f).pre"), post: try ConvLayer(w, "flow.flows.\(f).post"),
                                    inLayers: ins, resSkip: rs,
                                    cond: hasG ? try ConvLayer(w, "flow.flows.\(f).enc.cond_layer") : nil))
            f += 2
        }
        guard !cl.isEmpty else { throw ModelFileError(path: w.path, problem: "no flow layers (flow.flows.0)") }
        flows = cl

        decPre = try ConvLayer(w, "dec.conv_pre")
        decCond = hasG ? try ConvLayer(w, "dec.cond") : nil
        var up: [ConvLayer] = []
        while w.has("dec.ups.\(up.count).weight") { up.append(try ConvLayer(w, "dec.ups.\(up.count)", transposed: true)) }
        guard !up.isEmpty else { throw ModelFileError(path: w.path, problem: "no decoder upsampling layers (dec.ups.0)") }
        ups = up
        var rb: [ResBlock] = []
        while true {
            let r = rb.count
            if w.has("dec.resblocks.\(r).convs.0.weight") {
                var cs: [ConvLayer] = []
                while w.has("dec.resblocks.\(r).convs.\(cs.count).weight") { cs.append(try ConvLayer(w, "dec.resblocks.\(r).convs.\(cs.count)")) }
                rb.append(.two(cs))
            } else if w.has("dec.resblocks.\(r).convs1.0.weight") {
                var ps: [(ConvLayer, ConvLayer)] = []
                while w.has("dec.resblocks.\(r).convs1.\(ps.count).weight") {
                    let j = ps.count
                    ps.append((try ConvLayer(w, "dec.resblocks.\(r).convs1.\(j)"), try ConvLayer(w, "dec.resblocks.\(r).convs2.\(j)")))
                }
                rb.append(.one(ps))
            } else { break }
        }
        guard !rb.isEmpty, rb.count % up.count == 0 else {
            throw ModelFileError(path: w.path, problem: "decoder has \(rb.count) resblocks for \(up.count) upsampling layers")
        }
        resblocks = rb
        decPost = try ConvLayer(w, "dec.conv_post", bias: true)

        // The direct kernels take every stride-1, ungrouped convolution; the stages' lengths must be
        // stride × input (kernel − 2·padding = stride), as in every Piper voice.
        var direct: [[DirectConv]] = []
        var fits = up.allSatisfy { $0.kernel - 2 * $0.padding == $0.stride }
        var haloL = 0, haloR = 0
        for r in rb {
            let convs: [ConvLayer]
            switch r {
            case .two(let cs): convs = cs
            case .one(let ps): convs = ps.flatMap { [$0.0, $0.1] }
            }
            for c in convs {
                if c.transposed || c.stride != 1 || c.groups != 1 || c.inChannels != c.outChannels { fits = false }
                haloL = max(haloL, c.padding); haloR = max(haloR, c.dilation * (c.kernel - 1) - c.padding)
            }
            direct.append(convs.map {
                DirectConv(weight: $0.weight.pointer, bias: $0.bias?.pointer, outChannels: $0.outChannels,
                           inChannels: $0.inChannels, kernel: $0.kernel, dilation: $0.dilation, padding: $0.padding)
            })
        }
        fits = fits && decPost.stride == 1 && decPost.groups == 1
        haloL = max(haloL, decPost.padding); haloR = max(haloR, decPost.dilation * (decPost.kernel - 1) - decPost.padding)
        resDirect = fits ? direct : nil
        postDirect = fits ? DirectConv(decPost) : nil
        decoderHalo = ((haloL + 15) / 16 * 16, (haloR + 64 + 15) / 16 * 16)

        // Reach of each layer, each side, in its own samples (a transposed conv's in its input's samples).
        func reach(_ c: ConvLayer) -> Double { Double(max(c.padding, c.dilation * (c.kernel - 1) - c.padding)) }
        func upReach(_ u: ConvLayer) -> Double { (Double(max(u.kernel - 1 - u.padding, u.padding)) / Double(u.stride)).rounded(.up) + 1 }
        let kn = rb.count / up.count
        var parts: [Double] = []     // in frames: per stage, ups + its widest resblock
        var rate = 1
        for (i, u) in up.enumerated() {
            var widest = 0.0
            for r in 0..<kn {
                switch rb[i * kn + r] {
                case .two(let cs): widest = max(widest, cs.map(reach).reduce(0, +))
                case .one(let ps): widest = max(widest, ps.map { reach($0.0) + reach($0.1) }.reduce(0, +))
                }
            }
            parts.append(upReach(u) / Double(rate) + widest / Double(rate * u.stride))
            rate *= u.stride
        }
        let post = reach(decPost) / Double(rate)
        let total = reach(decPre) + parts.reduce(0, +) + post
        var after: [Int] = []
        rate = 1
        for (i, u) in up.enumerated() {
            rate *= u.stride
            after.append(Int(((parts[(i + 1)...].reduce(0, +) + post) * Double(rate)).rounded(.up)))
        }
        decoderReach = (Int(total.rounded(.up)), Int((total - reach(decPre)).rounded(.up)), after)
        guard decPre.inChannels == inter, cl[0].pre.inChannels * 2 == inter else {
            throw ModelFileError(path: w.path, problem: "flow/decoder channels do not match the encoder's \(inter)")
        }
    }
}

// MARK: Random numbers

/// Seedable standard-normal source: SplitMix64 and Box–Muller.
public struct NormalRNG: Sendable {
    private var state: UInt64
    private var spare: Float?
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func nextUInt64() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func next() -> Float {
        if let s = spare { spare = nil; return s }
        let u1 = (Double(nextUInt64() >> 11) + 1) / 9_007_199_254_740_993.0   // (0, 1]
        let u2 = Double(nextUInt64() >> 11) / 9_007_199_254_740_992.0
        let r = (-2 * Foundation.log(u1)).squareRoot()
        spare = Float(r * sin(2 * .pi * u2))
        return Float(r * cos(2 * .pi * u2))
    }
}

public struct SynthesisScales: Sendable, Equatable {
    public var noiseScale: Float, lengthScale: Float, noiseW: Float
    public init(noiseScale: Float, lengthScale: Float, noiseW: Float) {
        self.noiseScale = noiseScale; self.lengthScale = lengthScale; self.noiseW = noiseW
    }
}

// MARK: Forward pass

/// Runs one voice. Not thread-safe (it owns its scratch): one instance per synthesis thread.
public final class VITS: @unchecked Sendable {
    public let weights: VITSWeights
    let scratch = ScratchPool()
    /// Frames of context each side of a decoder window (HiFi-GAN's receptive field, 13 frames for the medium
    /// voices), so windowed decoding matches whole-sentence decoding.
    public var decoderContext: Int
    public var decoderWindow = 128
    /// The first window is short so the first sound comes early; later ones double up to `decoderWindow`.
    public var firstDecoderWindow = 16

    /// The direct-kernel decoder (default) or the im2col + sgemm one it replaced (`bench tts --im2col-decoder`).
    public var useDirectKernels = true
    /// Seconds per stage of synthesis when set (`confab bench tts --stages`).
    public var profile: StageTimes?

    public init(weights: VITSWeights) {
        self.weights = weights
        decoderContext = weights.decoderReach.total
    }

    /// The encoder's outputs for one sentence: h [H, T] (for the duration predictor), m_p and logs_p [inter, T].
    public struct Encoded { public var T: Int; public var h: [Float]; public var m: [Float]; public var logs: [Float] }

    public func encode(_ ids: [Int]) throws -> Encoded {
        let W = weights, H = W.hidden, T = ids.count
        guard T > 0 else { throw PhonemizerError("no phoneme ids to synthesize") }
        for id in ids where id < 0 || id >= W.numSymbols {
            throw PhonemizerError("phoneme id \(id) is outside the voice's \(W.numSymbols) symbols (config does not match the model?)")
        }
        let x = scratch.get(0, H * T), y = scratch.get(1, H * T)
        let cols = scratch.get(3, max(W.layers[0].ffn1.columnsNeeded(T), W.layers[0].ffn2.columnsNeeded(T), H * T))
        let stats = scratch.get(4, 2 * T)
        // h = emb(ids)·sqrt(H), transposed to [H, T]
        let s = Float(H).squareRoot()
        for t in 0..<T {
            let e = W.emb.pointer + ids[t] * H
            for c in 0..<H { x[c * T + t] = e[c] * s }
        }
        let dk = H / W.heads, win = W.window
        let q = scratch.get(5, H * T), k = scratch.get(6, H * T), v = scratch.get(7, H * T)
        let scores = scratch.get(8, T * T), att = scratch.get(9, H * T)
        let invSqrt = 1 / Float(dk).squareRoot()
        for L in W.layers {
            // Multi-head attention with relative positions (window w, shared by the heads).
            L.q.apply(x, length: T, into: q, columns: cols)
            L.k.apply(x, length: T, into: k, columns: cols)
            L.v.apply(x, length: T, into: v, columns: cols)
            for i in 0..<(H * T) { q[i] *= invSqrt }
            let relHeads = L.relK.shape[0]
            for hd in 0..<W.heads {
                let qh = q + hd * dk * T, kh = k + hd * dk * T, vh = v + hd * dk * T, oh = att + hd * dk * T
                let rk = L.relK.pointer + (relHeads > 1 ? hd : 0) * (2 * win + 1) * dk
                let rv = L.relV.pointer + (relHeads > 1 ? hd : 0) * (2 * win + 1) * dk
                // scores[i, j] = Σd q[d, i]·k[d, j]   ([T, T] = qᵀ k)
                sgemm(transA: true, M: T, N: T, K: dk, qh, lda: T, kh, ldb: T, scores, ldc: T)
                // + relative-key logits: q_i · relK[j − i + w] for |j − i| ≤ w
                for i in 0..<T {
                    let lo = max(0, i - win), hi = min(T - 1, i + win)
                    for j in lo...hi {
                        let r = rk + (j - i + win) * dk
                        var acc: Float = 0
                        for d in 0..<dk { acc += qh[d * T + i] * r[d] }
                        scores[i * T + j] += acc
                    }
                    softmaxInPlace(scores + i * T, count: T)
                }
                // out[d, i] = Σj v[d, j]·p[i, j]   ([dk, T] = v pᵀ)
                sgemm(transB: true, M: dk, N: T, K: T, vh, lda: T, scores, ldb: T, oh, ldc: T)
                // + relative-value term: Σj p[i, j]·relV[j − i + w]
                for i in 0..<T {
                    let lo = max(0, i - win), hi = min(T - 1, i + win)
                    for j in lo...hi {
                        let p = scores[i * T + j], r = rv + (j - i + win) * dk
                        for d in 0..<dk { oh[d * T + i] += p * r[d] }
                    }
                }
            }
            L.o.apply(att, length: T, into: y, columns: cols)
            addInPlace(x, y, count: H * T)
            channelLayerNorm(x, channels: H, length: T, gamma: L.norm1.gamma.pointer, beta: L.norm1.beta.pointer, into: x, stats: stats)
            // FFN: conv_2(relu(conv_1(x))), "same" padding
            // x += conv_2(relu(conv_1(x))) on the direct kernels: x copied into a halo layout, the ReLU and the
            // residual add fused into the stores
            let f1 = L.ffn1Direct, f2 = L.ffn2Direct
            let hl = (max(f1.leftHalo, f2.leftHalo) + 15) / 16 * 16, ldf = hl + (T + 15) / 16 * 16 + max(f1.rightHalo, f2.rightHalo)
            let xh = scratch.get(11, H * ldf) + hl, mid = scratch.get(12, f1.outChannels * ldf) + hl
            for c in 0..<H {
                let row = xh + c * ldf
                (row - hl).update(repeating: 0, count: ldf)
                row.update(from: x + c * T, count: T)
            }
            for c in 0..<f1.outChannels {
                let row = mid + c * ldf
                (row - hl).update(repeating: 0, count: hl)
                (row + T).update(repeating: 0, count: ldf - hl - T)
            }
            f1.apply(xh, ldx: ldf, length: T, out: confab_conv_out(bias: nil, res: nil, ldr: 0, y: nil, ldy: 0, accumulate: 0,
                                                                   act: mid, lda: ldf, slope: 0))
            f2.apply(mid, ldx: ldf, length: T, out: confab_conv_out(bias: nil, res: x, ldr: T, y: x, ldy: T, accumulate: 0,
                                                                    act: nil, lda: 0, slope: 0))
            channelLayerNorm(x, channels: H, length: T, gamma: L.norm2.gamma.pointer, beta: L.norm2.beta.pointer, into: x, stats: stats)
        }
        let st = scratch.get(10, 2 * W.inter * T)
        W.proj.apply(x, length: T, into: st, columns: cols)
        let n = W.inter * T
        return Encoded(T: T, h: Array(UnsafeBufferPointer(start: x, count: H * T)),
                       m: Array(UnsafeBufferPointer(start: st, count: n)),
                       logs: Array(UnsafeBufferPointer(start: st + n, count: n)))
    }

    /// x [C, T] → DDSConv(x + g) in place (g: optional [C, T] conditioning added first).
    func ddsConv(_ d: DDSConv, _ x: UnsafeMutablePointer<Float>, channels C: Int, length T: Int, slotBase: Int) {
        let y = scratch.get(slotBase, C * T), z = scratch.get(slotBase + 1, C * T)
        let cols = scratch.get(slotBase + 2, C * 3 * T + 64), stats = scratch.get(slotBase + 3, 2 * T)
        for i in 0..<d.sep.count {
            let needed = d.sep[i].columnsNeeded(T)
            let c2 = needed > C * 3 * T + 64 ? scratch.get(slotBase + 2, needed) : cols
            d.sep[i].apply(x, length: T, into: y, columns: c2)
            channelLayerNorm(y, channels: C, length: T, gamma: d.norms1[i].gamma.pointer, beta: d.norms1[i].beta.pointer, into: y, stats: stats)
            geluInPlaceFast(y, count: C * T)
            d.pointwise[i].apply(y, length: T, into: z, columns: c2)
            channelLayerNorm(z, channels: C, length: T, gamma: d.norms2[i].gamma.pointer, beta: d.norms2[i].beta.pointer, into: z, stats: stats)
            geluInPlaceFast(z, count: C * T)
            addInPlace(x, z, count: C * T)
        }
    }

    /// Per-phoneme durations in frames (w_ceil), from the encoder's h.
    public func durations(_ enc: Encoded, scales: SynthesisScales, speaker g: [Float]?, rng: inout NormalRNG) -> [Int] {
        let W = weights, T = enc.T
        var logw = [Float](repeating: 0, count: T)
        if let sdp = W.sdp {
            let C = sdp.pre.outChannels
            let hIn = scratch.get(20, W.hidden * T)
            enc.h.withUnsafeBufferPointer { hIn.update(from: $0.baseAddress!, count: W.hidden * T) }
            let x = scratch.get(21, C * T), cols = scratch.get(22, max(sdp.pre.columnsNeeded(T), C * T))
            sdp.pre.apply(hIn, length: T, into: x, columns: cols)
            if let cond = sdp.cond, let g { addChannelBias(cond, g, x, T) }
            ddsConv(sdp.convs, x, channels: C, length: T, slotBase: 30)
            let cond = scratch.get(23, C * T)
            sdp.proj.apply(x, length: T, into: cond, columns: cols)
            // z [2, T] = N(0,1)·noise_w; flows in reverse: Flip, CF(last) … Flip, CF(first kept), Flip, EA
            let z = scratch.get(24, 2 * T)
            for i in 0..<(2 * T) { z[i] = rng.next() * scales.noiseW }
            let hbuf = scratch.get(25, C * T), p = scratch.get(26, sdp.flows.first.map { $0.proj.outChannels * T } ?? T)
            for flow in sdp.flows.reversed() {
                flip2(z, T)
                // ConvFlow inverse: z0 conditions a rational-quadratic spline on z1.
                flow.pre.apply(z, length: T, into: hbuf, columns: cols)
                addInPlace(hbuf, cond, count: C * T)
                ddsConv(flow.convs, hbuf, channels: C, length: T, slotBase: 40)
                flow.proj.apply(hbuf, length: T, into: p, columns: cols)
                let K = flow.bins, P = flow.proj.outChannels, scale = 1 / Float(C).squareRoot()
                var params = [Float](repeating: 0, count: P)
                for t in 0..<T {
                    for j in 0..<P { params[j] = p[j * T + t] }
                    z[T + t] = params.withUnsafeMutableBufferPointer {
                        inverseRationalQuadratic(z[T + t], $0.baseAddress!, bins: K, widthScale: scale)
                    }
                }
            }
            flip2(z, T)
            // ElementwiseAffine inverse: (z − m)·exp(−logs)
            for c in 0..<2 {
                let m = sdp.m.pointer[c], e = sdp.expNegLogs.pointer[c]
                for t in 0..<T { z[c * T + t] = (z[c * T + t] - m) * e }
            }
            for t in 0..<T { logw[t] = z[t] }
        } else if let dp = W.ddp {
            let C = dp.conv1.outChannels
            let hIn = scratch.get(20, W.hidden * T)
            enc.h.withUnsafeBufferPointer { hIn.update(from: $0.baseAddress!, count: W.hidden * T) }
            if let cond = dp.cond, let g { addChannelBias(cond, g, hIn, T) }
            let a = scratch.get(21, C * T), b = scratch.get(23, C * T), stats = scratch.get(27, 2 * T)
            let cols = scratch.get(22, max(dp.conv1.columnsNeeded(T), dp.conv2.columnsNeeded(T)))
            dp.conv1.apply(hIn, length: T, into: a, columns: cols)
            reluInPlace(a, count: C * T)
            channelLayerNorm(a, channels: C, length: T, gamma: dp.norm1.gamma.pointer, beta: dp.norm1.beta.pointer, into: a, stats: stats)
            dp.conv2.apply(a, length: T, into: b, columns: cols)
            reluInPlace(b, count: C * T)
            channelLayerNorm(b, channels: C, length: T, gamma: dp.norm2.gamma.pointer, beta: dp.norm2.beta.pointer, into: b, stats: stats)
            let o = scratch.get(24, T)
            dp.proj.apply(b, length: T, into: o, columns: cols)
            for t in 0..<T { logw[t] = o[t] }
        }
        // w = exp(logw)·length_scale, rounded up to whole frames
        return logw.map { lw in
            let w = Foundation.exp(lw) * scales.lengthScale
            return w.isFinite ? max(0, Int(w.rounded(.up))) : 0
        }
    }

    private func flip2(_ z: UnsafeMutablePointer<Float>, _ T: Int) {
        for t in 0..<T { let a = z[t]; z[t] = z[T + t]; z[T + t] = a }
    }

    /// x[c, t] += (cond · g)[c] for every t: a speaker embedding is constant over time.
    private func addChannelBias(_ cond: ConvLayer, _ g: [Float], _ x: UnsafeMutablePointer<Float>, _ T: Int) {
        var gb = [Float](repeating: 0, count: cond.outChannels)
        g.withUnsafeBufferPointer { gp in
            gb.withUnsafeMutableBufferPointer { ob in
                linear(gp.baseAddress!, rows: 1, inFeatures: cond.inChannels, weight: cond.weight.pointer,
                       bias: cond.bias?.pointer, outFeatures: cond.outChannels, into: ob.baseAddress!)
            }
        }
        for c in 0..<cond.outChannels {
            let row = x + c * T, b = gb[c]
            for t in 0..<T { row[t] += b }
        }
    }

    /// The speaker embedding g [gin] for a multi-speaker voice (nil for single-speaker voices).
    public func speakerEmbedding(_ speaker: Int) throws -> [Float]? {
        guard let e = weights.speakerEmb else { return nil }
        guard speaker >= 0 && speaker < e.shape[0] else {
            throw PhonemizerError("speaker \(speaker) is out of range: this voice has \(e.shape[0]) speakers (0-\(e.shape[0] - 1))")
        }
        let gin = e.shape[1]
        return Array(UnsafeBufferPointer(start: e.pointer + speaker * gin, count: gin))
    }

    /// Prior sampling and the coupling flow in reverse: z [inter, F] ready for the decoder.
    public func latent(_ enc: Encoded, durations: [Int], scales: SynthesisScales, speaker g: [Float]?,
                       rng: inout NormalRNG) -> (z: [Float], frames: Int) {
        let W = weights, C = W.inter, T = enc.T
        let F = max(1, durations.reduce(0, +))
        var z = [Float](repeating: 0, count: C * F)
        // Expand m_p, logs_p over each phoneme's frames; z_p = m + ε·exp(logs)·noise_scale.
        var f = 0
        for t in 0..<T {
            for _ in 0..<durations[t] where f < F {
                for c in 0..<C {
                    let m = enc.m[c * T + t], ls = enc.logs[c * T + t]
                    z[c * F + f] = m + rng.next() * Foundation.exp(ls) * scales.noiseScale
                }
                f += 1
            }
        }
        let half = C / 2
        z.withUnsafeMutableBufferPointer { zb in
            let zp = zb.baseAddress!
            for layer in W.flows.reversed() {
                flipChannels(zp, C, F)
                couplingInverse(layer, zp, half: half, F: F, g: g)
            }
        }
        return (z, F)
    }

    private func flipChannels(_ x: UnsafeMutablePointer<Float>, _ C: Int, _ T: Int) {
        let tmp = scratch.get(50, T)
        for c in 0..<(C / 2) {
            let a = x + c * T, b = x + (C - 1 - c) * T
            tmp.update(from: a, count: T); a.update(from: b, count: T); b.update(from: tmp, count: T)
        }
    }

    /// ResidualCouplingLayer (mean only) in reverse: x1 −= post(WN(pre(x0))). The WN's hidden state h is kept
    /// in the halo layout the direct kernels read; res_skip's two halves go straight into h and skip (sgemm, β = 1).
    private func couplingInverse(_ L: CouplingLayer, _ x: UnsafeMutablePointer<Float>, half: Int, F: Int, g: [Float]?) {
        let Hh = L.pre.outChannels
        var hl = 0, hr = 0
        for c in L.inDirect { hl = max(hl, c.padding); hr = max(hr, c.dilation * (c.kernel - 1) - c.padding) }
        hl = (hl + 15) / 16 * 16; hr = (hr + 64 + 15) / 16 * 16
        let ldh = hl + (F + 15) / 16 * 16 + hr
        let hbuf = scratch.get(51, Hh * ldh), h = hbuf + hl
        let acts = scratch.get(52, 2 * Hh * F), skip = scratch.get(54, Hh * F), out = scratch.get(55, half * F)
        hbuf.update(repeating: 0, count: Hh * ldh)
        // h = pre(x0)
        sgemm(M: Hh, N: F, K: half, L.pre.weight.pointer, lda: half, x, ldb: F, h, ldc: ldh)
        if let b = L.pre.bias { addRowBias(h, rows: Hh, ld: ldh, length: F, bias: b.pointer) }
        skip.update(repeating: 0, count: Hh * F)
        var gAll: [Float]? = nil
        if let cond = L.cond, let g {
            var gb = [Float](repeating: 0, count: cond.outChannels)
            g.withUnsafeBufferPointer { gp in gb.withUnsafeMutableBufferPointer { ob in
                linear(gp.baseAddress!, rows: 1, inFeatures: cond.inChannels, weight: cond.weight.pointer,
                       bias: cond.bias?.pointer, outFeatures: cond.outChannels, into: ob.baseAddress!) } }
            gAll = gb
        }
        let n = L.inLayers.count
        for i in 0..<n {
            L.inDirect[i].apply(h, ldx: ldh, length: F,
                                out: confab_conv_out(bias: nil, res: nil, ldr: 0, y: acts, ldy: F, accumulate: 0, act: nil, lda: 0, slope: 0))
            if let gAll {
                for c in 0..<(2 * Hh) {
                    let b = gAll[i * 2 * Hh + c], row = acts + c * F
                    for t in 0..<F { row[t] += b }
                }
            }
            // gated activation: tanh(a[:H])·sigmoid(a[H:]), into acts[:H]
            gatedTanhSigmoid(acts, acts + Hh * F, count: Hh * F)
            let rsW = L.resSkip[i].weight.pointer, rsB = L.resSkip[i].bias?.pointer
            if i < n - 1 {
                // h += res half, skip += skip half
                sgemm(M: Hh, N: F, K: Hh, rsW, lda: Hh, acts, ldb: F, beta: 1, h, ldc: ldh)
                sgemm(M: Hh, N: F, K: Hh, rsW + Hh * Hh, lda: Hh, acts, ldb: F, beta: 1, skip, ldc: F)
                if let rsB {
                    addRowBias(h, rows: Hh, ld: ldh, length: F, bias: rsB)
                    addRowBias(skip, rows: Hh, ld: F, length: F, bias: rsB + Hh)
                }
            } else {
                sgemm(M: Hh, N: F, K: Hh, rsW, lda: Hh, acts, ldb: F, beta: 1, skip, ldc: F)
                if let rsB { addRowBias(skip, rows: Hh, ld: F, length: F, bias: rsB) }
            }
        }
        sgemm(M: half, N: F, K: Hh, L.post.weight.pointer, lda: Hh, skip, ldb: F, out, ldc: F)
        let x1 = x + half * F
        if let b = L.post.bias {
            for c in 0..<half {
                let row = x1 + c * F, o = out + c * F, bc = b.pointer[c]
                for t in 0..<F { row[t] -= o[t] + bc }
            }
        } else {
            for j in 0..<(half * F) { x1[j] -= out[j] }
        }
    }

    /// The number of output samples for F frames.
    public func samples(forFrames F: Int) -> Int { F * weights.hopLength }

    /// HiFi-GAN on frames [f0, f1) of z [inter, F], with `context` frames each side for the receptive field;
    /// returns the samples of [f0, f1) only. Whole-sentence decoding is decode(z, F, 0, F, context: 0).
    public func decode(_ z: UnsafePointer<Float>, frames F: Int, from f0: Int, to f1: Int, context: Int,
                       speaker g: [Float]?) -> [Float] {
        if useDirectKernels, let direct = weights.resDirect {
            return decodeDirect(direct, z, frames: F, from: f0, to: f1, context: context, speaker: g)
        }
        return decodeIm2col(z, frames: F, from: f0, to: f1, context: context, speaker: g)
    }

    /// HiFi-GAN with the direct kernels: each stage's residual blocks in the halo layout, element-wise work fused
    /// into the convolutions' stores, and after each stage the signal cropped to the window plus what the rest of
    /// the decoder still reaches (the context a window needs is mostly the first stages' reach: the costly last
    /// stages then run on the window and a few samples, not on the whole context).
    func decodeDirect(_ direct: [[DirectConv]], _ z: UnsafePointer<Float>, frames F: Int, from f0: Int, to f1: Int,
                      context: Int, speaker g: [Float]?) -> [Float] {
        let W = weights, C = W.inter
        let a = max(0, f0 - context), b = min(F, f1 + context)
        var lap = Lap(profile)
        let T0 = b - a
        let zin = scratch.get(60, C * T0)
        for c in 0..<C { (zin + c * T0).update(from: z + c * F + a, count: T0) }
        let C0 = W.decPre.outChannels
        let pre = scratch.get(61, C0 * T0)
        W.decPre.apply(zin, length: T0, into: pre, columns: scratch.get(62, W.decPre.columnsNeeded(T0)))
        if let cond = W.decCond, let g { addChannelBias(cond, g, pre, T0) }
        lap.mark("decoder conv_pre")
        // The signal: `chans` rows `ld` apart, T steps from absolute step A, at `rate` steps per frame.
        var src = UnsafePointer(pre), ld = T0, A = a, T = T0, rate = 1, chans = C0
        var reach = W.decoderReach.afterPre
        var scale: Float = 1     // the mean over the previous stage's resblocks, applied with the next leaky ReLU
        let kn = W.resblocks.count / W.ups.count
        let (HL, HR) = W.decoderHalo
        for (i, u) in W.ups.enumerated() {
            let lo = max(A, f0 * rate - reach), hi = min(A + T, f1 * rate + reach)
            let Tin = hi - lo
            let xin = scratch.get(63, chans * Tin)
            for c in 0..<chans {
                leakyReluScaledCopy(src + c * ld + (lo - A), into: xin + c * Tin, count: Tin, slope: 0.1, scale: scale)
            }
            A = lo * u.stride; T = Tin * u.stride; rate *= u.stride
            let Cs = u.outChannels, ldS = HL + (T + 15) / 16 * 16 + HR, size = Cs * ldS
            let X = scratch.get(64, size) + HL, R = scratch.get(65, size) + HL, acc = scratch.get(66, size) + HL
            let P0 = scratch.get(67, size) + HL, Pa = scratch.get(68, size) + HL, Pb = scratch.get(69, size) + HL
            convTranspose(u, xin, length: Tin, into: X, ld: ldS, columns: scratch.get(70, u.columnsNeeded(Tin)))
            lap.mark("decoder ups.\(i)")
            for p in [P0, Pa, Pb] { zeroHalos(p, rows: Cs, ld: ldS, length: T, left: HL) }
            for c in 0..<Cs { leakyReluCopy(X + c * ldS, into: P0 + c * ldS, count: T, slope: 0.1) }
            for r in 0..<kn {
                let convs = direct[i * kn + r]
                var inp = P0
                var res = UnsafePointer(X)
                func other(_ p: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> { p == Pa ? Pb : Pa }
                func run(_ c: DirectConv, _ x: UnsafeMutablePointer<Float>, res: UnsafePointer<Float>?,
                         y: UnsafeMutablePointer<Float>?, accumulate: Bool, act: UnsafeMutablePointer<Float>?) {
                    let o = confab_conv_out(bias: nil, res: res, ldr: ldS, y: y, ldy: ldS, accumulate: accumulate ? 1 : 0,
                                            act: act, lda: ldS, slope: 0.1)
                    c.apply(x, ldx: ldS, length: T, out: o)
                }
                switch W.resblocks[i * kn + r] {
                case .two:
                    // x += conv_j(leaky_relu(x)); the last one adds into the stage's sum
                    for (j, c) in convs.enumerated() {
                        let last = j == convs.count - 1
                        let next = last ? nil : other(inp)
                        run(c, inp, res: res, y: last ? acc : R, accumulate: last && r > 0, act: next)
                        res = UnsafePointer(R)
                        if let next { inp = next }
                    }
                case .one:
                    // x += conv2(leaky_relu(conv1(leaky_relu(x))))
                    let pairs = convs.count / 2
                    for j in 0..<pairs {
                        let last = j == pairs - 1
                        let mid = other(inp)
                        run(convs[2 * j], inp, res: nil, y: nil, accumulate: false, act: mid)
                        let next = last ? nil : other(mid)
                        run(convs[2 * j + 1], mid, res: res, y: last ? acc : R, accumulate: last && r > 0, act: next)
                        res = UnsafePointer(R)
                        if let next { inp = next }
                    }
                }
            }
            src = UnsafePointer(acc); ld = ldS; chans = Cs; scale = 1 / Float(kn)
            reach = W.decoderReach.afterStage[i]
            lap.mark("decoder resblocks.\(i)")
        }
        let lo = max(A, f0 * rate - reach), hi = min(A + T, f1 * rate + reach)
        let Tin = hi - lo, ldP = HL + (Tin + 15) / 16 * 16 + HR
        let xin = scratch.get(63, chans * ldP) + HL
        zeroHalos(xin, rows: chans, ld: ldP, length: Tin, left: HL)
        for c in 0..<chans {
            leakyReluScaledCopy(src + c * ld + (lo - A), into: xin + c * ldP, count: Tin, slope: 0.01, scale: scale)
        }
        let y = scratch.get(71, Tin + 64)
        W.postDirect!.apply(xin, ldx: ldP, length: Tin,
                            out: confab_conv_out(bias: nil, res: nil, ldr: 0, y: y, ldy: Tin, accumulate: 0, act: nil, lda: 0, slope: 0))
        let s0 = f0 * rate - lo, s1 = min(Tin, f1 * rate - lo)
        tanhInPlaceFast(y + s0, count: max(0, s1 - s0))
        lap.mark("decoder conv_post")
        return Array(UnsafeBufferPointer(start: y + s0, count: max(0, s1 - s0)))
    }

    /// ConvTranspose1d x [Cin, Tin] → y [Cout, Tin·stride] with rows `ld` apart: one sgemm into columns
    /// [Cout·K, Tin], then each output phase gathers its taps.
    private func convTranspose(_ u: ConvLayer, _ x: UnsafePointer<Float>, length Tin: Int, into y: UnsafeMutablePointer<Float>,
                               ld: Int, columns: UnsafeMutablePointer<Float>) {
        let Cout = u.outChannels, K = u.kernel, s = u.stride, pad = u.padding, Tout = Tin * s
        sgemm(transA: true, M: Cout * K, N: Tin, K: u.inChannels, u.weight.pointer, lda: Cout * K, x, ldb: Tin,
              columns, ldc: Tin)
        // the gather, output channels shared over the engine threads (at two threads it took as long as the sgemm)
        let bias = u.bias?.pointer
        SpinningPool.shared.parallelChunks(Cout, minChunk: max(1, 16384 / max(1, K * Tin))) { channels in
            for o in channels {
                let yo = y + o * ld
                let bo: Float = bias?[o] ?? 0
                for t in 0..<Tout { yo[t] = bo }
                for kk in 0..<K {
                    let col = columns + (o * K + kk) * Tin
                    // output step t·s − pad + kk for input step t
                    let off = kk - pad
                    if Tout - 1 - off < 0 { continue }
                    let tLo = max(0, (-off + s - 1) / s), tHi = min(Tin, (Tout - 1 - off) / s + 1)
                    if tHi <= tLo { continue }
                    let base = yo + off
                    for t in tLo..<tHi { base[t * s] += col[t] }
                }
            }
        }
    }

    /// Zeros [−left, 0) and [T, ld − left) of each row (pointers at step 0).
    private func zeroHalos(_ p: UnsafeMutablePointer<Float>, rows: Int, ld: Int, length T: Int, left: Int) {
        for c in 0..<rows {
            let row = p + c * ld
            (row - left).update(repeating: 0, count: left)
            (row + T).update(repeating: 0, count: ld - left - T)
        }
    }

    /// The whole-tensor im2col + sgemm decoder (layers the direct kernels do not take).
    func decodeIm2col(_ z: UnsafePointer<Float>, frames F: Int, from f0: Int, to f1: Int, context: Int,
                      speaker g: [Float]?) -> [Float] {
        let W = weights, C = W.inter
        var lap = Lap(profile)
        defer { lap.mark("decoder (im2col)") }
        let a = max(0, f0 - context), b = min(F, f1 + context)
        let T0 = b - a
        // Sizes grow with each upsampling: size the buffers for the largest stage.
        var maxCT = max(C, W.decPre.outChannels) * T0, maxCols = W.decPre.columnsNeeded(T0)
        var tt = T0
        let kn = W.resblocks.count / W.ups.count
        for (i, u) in W.ups.enumerated() {
            maxCols = max(maxCols, u.columnsNeeded(tt))
            tt = u.outputLength(tt)
            maxCT = max(maxCT, u.outChannels * tt)
            for r in 0..<kn {
                switch W.resblocks[i * kn + r] {
                case .two(let cs): for c in cs { maxCols = max(maxCols, c.columnsNeeded(tt)) }
                case .one(let ps): for (c1, c2) in ps { maxCols = max(maxCols, c1.columnsNeeded(tt), c2.columnsNeeded(tt)) }
                }
            }
        }
        maxCols = max(maxCols, W.decPost.columnsNeeded(tt))
        var cur = scratch.get(60, maxCT), nxt = scratch.get(61, maxCT)
        let cols = scratch.get(62, maxCols), acc = scratch.get(63, maxCT)
        let t1 = scratch.get(64, maxCT), t2 = scratch.get(65, maxCT), tc = scratch.get(66, maxCT)
        for c in 0..<C { (cur + c * T0).update(from: z + c * F + a, count: T0) }
        var T = T0
        W.decPre.apply(cur, length: T, into: nxt, columns: cols)
        if let cond = W.decCond, let g { addChannelBias(cond, g, nxt, T) }
        swap(&cur, &nxt)
        for (i, u) in W.ups.enumerated() {
            // x = mean over kernels of resblock(ups(leaky_relu(x, 0.1)))
            leakyReluInPlace(cur, count: u.inChannels * T, slope: 0.1)
            T = u.apply(cur, length: T, into: nxt, columns: cols)
            let n = u.outChannels * T
            acc.update(repeating: 0, count: n)
            for r in 0..<kn {
                t1.update(from: nxt, count: n)
                switch W.resblocks[i * kn + r] {
                case .two(let cs):
                    for c in cs {   // x += conv_d(leaky_relu(x))
                        leakyReluCopy(t1, into: t2, count: n, slope: 0.1)
                        c.apply(t2, length: T, into: tc, columns: cols)
                        addInPlace(t1, tc, count: n)
                    }
                case .one(let ps):
                    for (c1, c2) in ps {   // x += conv2(leaky_relu(conv1_d(leaky_relu(x))))
                        leakyReluCopy(t1, into: t2, count: n, slope: 0.1)
                        c1.apply(t2, length: T, into: tc, columns: cols)
                        leakyReluInPlace(tc, count: n, slope: 0.1)
                        c2.apply(tc, length: T, into: t2, columns: cols)
                        addInPlace(t1, t2, count: n)
                    }
                }
                addInPlace(acc, t1, count: n)
            }
            let inv = 1 / Float(kn)
            for j in 0..<n { cur[j] = acc[j] * inv }
        }
        let lastC = W.ups[W.ups.count - 1].outChannels
        leakyReluInPlace(cur, count: lastC * T, slope: 0.01)
        let y = nxt
        W.decPost.apply(cur, length: T, into: y, columns: cols)
        tanhInPlace(y, count: T)
        let hop = W.hopLength
        let s0 = (f0 - a) * hop, s1 = min(T, s0 + (f1 - f0) * hop)
        return Array(UnsafeBufferPointer(start: y + s0, count: max(0, s1 - s0)))
    }

    /// One sentence of ids → audio, delivered in decoder windows (`chunk` returns false to stop).
    public func synthesize(ids: [Int], scales: SynthesisScales, speaker: Int = 0, seed: UInt64,
                           windowed: Bool = true, chunk: ([Float]) -> Bool) throws {
        let g = try speakerEmbedding(speaker)
        var rng = NormalRNG(seed: seed)
        var lap = Lap(profile)
        let enc = try encode(ids)
        lap.mark("text encoder")
        let dur = durations(enc, scales: scales, speaker: g, rng: &rng)
        lap.mark("duration predictor")
        let (z, F) = latent(enc, durations: dur, scales: scales, speaker: g, rng: &rng)
        lap.mark("flow")
        try z.withUnsafeBufferPointer { zb in
            if !windowed || F <= firstDecoderWindow + decoderContext {
                _ = chunk(decode(zb.baseAddress!, frames: F, from: 0, to: F, context: 0, speaker: g))
                return
            }
            var f = 0
            // A short first window gets the first sound out early; then each window is twice the last, up to
            // `decoderWindow`, so every window is ready before the audio ahead of it has played out, even when
            // the language model takes half the CPU meanwhile (a jump from 16 to 128 frames was not).
            var w = max(4, firstDecoderWindow)
            while f < F {
                try Task.checkCancellation()
                let e = min(F, f + w)
                if !chunk(decode(zb.baseAddress!, frames: F, from: f, to: e, context: decoderContext, speaker: g)) { return }
                f = e
                w = min(max(w * 2, 4), max(decoderWindow, 4))
            }
        }
    }

    /// Convenience: the whole sentence as one array.
    public func synthesize(ids: [Int], scales: SynthesisScales, speaker: Int = 0, seed: UInt64 = 0, windowed: Bool = true) throws -> [Float] {
        var out: [Float] = []
        try synthesize(ids: ids, scales: scales, speaker: speaker, seed: seed, windowed: windowed) { out += $0; return true }
        return out
    }
}

/// Inverse of the unconstrained rational-quadratic spline (Durkan et al.) with linear tails, as VITS's
/// transforms.piecewise_rational_quadratic_transform(inverse=True, tails="linear", tail_bound=5).
/// `p` holds K widths, K heights and K−1 inner derivatives (unnormalized); widths/heights are scaled first.
@inline(__always)
func inverseRationalQuadratic(_ x: Float, _ p: UnsafeMutablePointer<Float>, bins K: Int, widthScale: Float,
                              tailBound B: Float = 5, minBin: Float = 1e-3, minDerivative: Float = 1e-3) -> Float {
    if x < -B || x > B { return x }
    let uw = p, uh = p + K, ud = p + 2 * K
    // cumulative widths/heights over [−B, B]
    var cw = [Float](repeating: 0, count: K + 1), chh = [Float](repeating: 0, count: K + 1)
    func cumulative(_ u: UnsafeMutablePointer<Float>, _ out: inout [Float]) {
        var mx = -Float.infinity
        for i in 0..<K { u[i] *= widthScale; mx = max(mx, u[i]) }
        var s: Float = 0
        var e = [Float](repeating: 0, count: K)
        for i in 0..<K { e[i] = Foundation.exp(u[i] - mx); s += e[i] }
        var c: Float = 0
        out[0] = -B
        for i in 0..<K {
            c += minBin + (1 - minBin * Float(K)) * e[i] / s
            out[i + 1] = 2 * B * c - B
        }
        out[0] = -B; out[K] = B
    }
    cumulative(uw, &cw)
    cumulative(uh, &chh)
    // derivatives: boundary ones padded with log(e^(1−minD) − 1) so that they equal 1
    func deriv(_ i: Int) -> Float {
        let u: Float = (i == 0 || i == K) ? Foundation.log(Foundation.exp(1 - minDerivative) - 1) : ud[i - 1]
        let sp: Float = u > 20 ? u : Foundation.log1p(Foundation.exp(u))
        return minDerivative + sp
    }
    // searchsorted on the cumulative heights (last edge nudged by 1e-6)
    var bin = 0
    for i in 0...K {
        let edge = i == K ? chh[K] + 1e-6 : chh[i]
        if x >= edge { bin = i }
    }
    bin = min(max(bin, 0), K - 1)
    let xk = cw[bin], wk = cw[bin + 1] - cw[bin]
    let yk = chh[bin], hk = chh[bin + 1] - chh[bin]
    let delta = hk / wk
    let d0 = deriv(bin), d1 = deriv(bin + 1)
    let dy = x - yk
    let a = dy * (d0 + d1 - 2 * delta) + hk * (delta - d0)
    let b = hk * d0 - dy * (d0 + d1 - 2 * delta)
    let c = -delta * dy
    let disc = max(0, b * b - 4 * a * c)
    let root = (2 * c) / (-b - disc.squareRoot())
    return root * wk + xk
}

/// y = leaky_relu(scale·x) (scale > 0).
@inline(__always)
func leakyReluScaledCopy(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int, slope: Float, scale: Float) {
    let ss = slope * scale
    for i in 0..<n { let v = x[i]; y[i] = v > 0 ? v * scale : v * ss }
}

/// Wall-clock laps into a StageTimes (nothing when it is nil).
struct Lap {
    let times: StageTimes?
    var last: UInt64
    init(_ t: StageTimes?) { times = t; last = t == nil ? 0 : DispatchTime.now().uptimeNanoseconds }
    mutating func mark(_ name: @autoclosure () -> String) {
        guard let times else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        times.add(name(), Double(now - last) / 1e9)
        last = now
    }
}

/// Seconds spent in each stage of synthesis, summed over calls, in first-seen order.
public final class StageTimes: @unchecked Sendable {
    public private(set) var names: [String] = []
    public private(set) var seconds: [Double] = []
    public init() {}
    func add(_ name: String, _ s: Double) {
        if let i = names.firstIndex(of: name) { seconds[i] += s } else { names.append(name); seconds.append(s) }
    }
    public func reset() { names = []; seconds = [] }
}

/// y = leaky_relu(x) without touching x (HiFi-GAN's residual branches keep x).
@inline(__always)
func leakyReluCopy(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int, slope: Float) {
    for i in 0..<n { let v = x[i]; y[i] = v > 0 ? v : v * slope }
}
