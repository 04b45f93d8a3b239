import Foundation

/// How the next token is picked. temperature 0 is greedy (argmax).
public struct SamplingParameters: Sendable, Equatable {
    /// Greedy by default: `confab bench answers` on Confab's 70 everyday questions (Qwen2.5-Coder-1.5B, 2026-12-05)
    /// gave 69/70 typed and 68/70 spoken greedy, against 65/70 and 61/70 at temperature 0.7 with these filters.
    public var temperature: Float = 0
    public var topK: Int = 40                 // 0: off
    public var topP: Float = 0.95             // 1: off
    public var minP: Float = 0.05             // 0: off
    public var repeatPenalty: Float = 1       // 1: off
    public var repeatLastN: Int = 64
    public var seed: UInt64? = nil            // nil: from the clock
    public var maxTokens: Int = 512
    public var stop: [String] = []
    /// End a reply that has fallen into a loop (`RepetitionLoop`): a small model asked the time at some minutes
    /// repeated one sentence until `maxTokens`, minutes of speech. The server turns it off: its clients get the
    /// reference's behaviour.
    public var stopLoops = true

    public init() {}
    public static var greedy: SamplingParameters {
        var p = SamplingParameters(); p.temperature = 0; p.repeatPenalty = 1; return p
    }
}

/// Penalties → top-k → top-p → min-p → temperature → draw (llama.cpp's default chain order).
/// Candidate buffers are allocated once for the vocabulary.
public final class Sampler: @unchecked Sendable {
    public var params: SamplingParameters
    let vocab: Int
    private var rng: SplitMix64
    private let ids: UnsafeMutablePointer<Int32>
    private let vals: UnsafeMutablePointer<Float>

    public init(vocabSize: Int, params: SamplingParameters) {
        self.params = params
        vocab = vocabSize
        rng = SplitMix64(seed: params.seed ?? UInt64(UInt64(Date().timeIntervalSince1970 * 1e6)))
        ids = .allocate(capacity: vocabSize)
        vals = .allocate(capacity: vocabSize)
    }
    deinit { ids.deallocate(); vals.deallocate() }

    /// Picks a token from `logits` (modified in place by the repetition penalty). `recent`: tokens seen so far.
    public func sample(_ logits: UnsafeMutablePointer<Float>, recent: ArraySlice<Int32>) -> Int32 {
        penalize(logits, recent: recent)
        if params.temperature <= 0 { return argmax(logits) }
        let c = candidates(logits)
        return draw(c, excluding: nil)
    }

    /// Speculative decoding's acceptance rule for a drafted token (a draft that proposes one token, so its own
    /// distribution is a point mass): `draft` is kept with probability p(draft) under this sampler's distribution,
    /// else a token is drawn from p with the draft taken out. The result is distributed exactly as `sample`'s
    /// (Leviathan et al. 2023, and Chen et al. 2023, with q = δ_draft). Greedy: the argmax, whatever the draft.
    public func verify(_ logits: UnsafeMutablePointer<Float>, recent: ArraySlice<Int32>, draft: Int32) -> Int32 {
        penalize(logits, recent: recent)
        if params.temperature <= 0 { return argmax(logits) }
        let c = candidates(logits)
        var pd: Float = 0
        for i in 0..<c.keep where ids[c.order[i]] == draft { pd = c.probs[i] / c.sum }
        if pd > 0 && Float(rng.nextDouble()) < pd { return draft }
        return draw(c, excluding: pd > 0 ? draft : nil)
    }

    private func penalize(_ logits: UnsafeMutablePointer<Float>, recent: ArraySlice<Int32>) {
        let p = params
        guard p.repeatPenalty != 1, p.repeatLastN > 0 else { return }
        var seen = Set<Int32>()
        for t in recent.suffix(p.repeatLastN) where t >= 0 && Int(t) < vocab && seen.insert(t).inserted {
            let l = logits[Int(t)]
            logits[Int(t)] = l > 0 ? l / p.repeatPenalty : l * p.repeatPenalty
        }
    }

    /// The candidates after top-k, top-p and min-p: `order[0..<keep]` index ids/vals by falling probability,
    /// `probs` their softmax at the temperature (unnormalized over the kept ones: `sum`).
    private struct Candidates { var order: [Int]; var probs: [Float]; var keep: Int; var sum: Float }

    private func candidates(_ logits: UnsafeMutablePointer<Float>) -> Candidates {
        let p = params
        // Candidates: the top k (or everything within reach of the maximum when k is off), sorted descending.
        var maxL = -Float.infinity
        for i in 0..<vocab where logits[i] > maxL { maxL = logits[i] }
        var n = 0
        // exp(-30) is far below any min-p/top-p cut: dropping those cannot change the draw measurably.
        let floor = maxL - 30 * max(p.temperature, 1e-3)
        for i in 0..<vocab where logits[i] >= floor { ids[n] = Int32(i); vals[n] = logits[i]; n += 1 }
        var order = Array(0..<n)
        order.sort { vals[$0] > vals[$1] }
        if p.topK > 0 { order = Array(order.prefix(p.topK)) }
        // softmax at temperature
        var probs = order.map { expf((vals[$0] - maxL) / p.temperature) }
        var sum = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= sum }
        var keep = probs.count
        if p.topP < 1 {
            var c: Float = 0
            for i in 0..<probs.count { c += probs[i]; if c >= p.topP { keep = i + 1; break } }
        }
        if p.minP > 0, let top = probs.first {
            var k = 1
            while k < keep, probs[k] >= p.minP * top { k += 1 }
            keep = k
        }
        sum = probs[0..<keep].reduce(0, +)
        return Candidates(order: order, probs: probs, keep: keep, sum: sum)
    }

    /// One draw from the kept candidates, optionally with one token taken out (renormalized over the rest).
    private func draw(_ c: Candidates, excluding skip: Int32?) -> Int32 {
        var sum = c.sum
        if let skip { for i in 0..<c.keep where ids[c.order[i]] == skip { sum -= c.probs[i] } }
        if sum <= 0 { return ids[c.order[0]] }
        var r = Float(rng.nextDouble()) * sum
        var last = c.order[0]
        for i in 0..<c.keep where ids[c.order[i]] != skip {
            last = c.order[i]
            r -= c.probs[i]
            if r <= 0 { return ids[c.order[i]] }
        }
        return ids[last]
    }

    public func argmax(_ logits: UnsafePointer<Float>) -> Int32 {
        var best = 0
        var m = logits[0]
        for i in 1..<vocab where logits[i] > m { m = logits[i]; best = i }
        return Int32(best)
    }
}

/// Small, fast, seedable generator (reproducible draws for --seed).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// Speculative decoding: how drafts are made.
public struct SpeculationParameters: Sendable, Equatable {
    /// Off: one token per model call.
    public var enabled = true
    /// Longest n-gram of the latest tokens looked up in the context (prompt lookup), and the shortest.
    public var ngramMax = 3
    public var ngramMin = 1
    /// Most tokens drafted per model call.
    public var maxDraft = 6
    public init() {}
    public static var off: SpeculationParameters { var p = SpeculationParameters(); p.enabled = false; return p }
}

/// Prompt lookup (Saxena 2023): the tokens that followed the latest earlier occurrence of the context's last n
/// tokens, for n from `ngramMax` down to `ngramMin`. Replies repeat the question's words, names and numbers, and a
/// conversation its own: a draft costs nothing to make, and the model checks it in the call it makes anyway.
struct PromptLookup {
    let params: SpeculationParameters
    init(_ p: SpeculationParameters) { params = p }

    /// Drafts at most `max` tokens to follow `context + [last]` into `out`.
    func propose(after context: [Int32], _ last: Int32, max k: Int, into out: inout [Int32]) {
        let k = min(k, params.maxDraft)
        guard k > 0 else { return }
        let count = context.count + 1
        @inline(__always) func at(_ i: Int) -> Int32 { i < context.count ? context[i] : last }
        for n in stride(from: params.ngramMax, through: max(1, params.ngramMin), by: -1) where count > n {
            // The latest start s < count - n whose n tokens equal the last n.
            var s = count - n - 1
            while s >= 0 {
                var same = true
                for j in 0..<n where at(s + j) != at(count - n + j) { same = false; break }
                if same {
                    var i = s + n
                    while i < count && out.count < k { out.append(at(i)); i += 1 }
                    return
                }
                s -= 1
            }
        }
    }
}
