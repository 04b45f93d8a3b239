import Foundation

/// The token loop of a reply, with speculative decoding: each model call runs the picked token together with a
/// draft of the tokens that may follow it, and keeps the draft's tokens as far as the model agrees with them.
///
///   tok                     picked from the last logits, not yet run
///   draft d[0..<k]          proposed continuation (prompt lookup), k ≤ maxLogitRows - 1
///   forward([tok] + d)      one call; logits row i = the model after tok, d[0..<i]
///   verify row i vs d[i]    greedy: d[i] kept iff it is row i's argmax; sampling: kept with probability p(d[i]),
///                           else a token drawn from p without d[i] (the speculative-sampling rule)
///   the first disagreement is the next tok; all agreed: the next tok is drawn from row k
///
/// Greedy output is token for token what one-token decoding gives, since every row of a batched call is bit-identical
/// to a one-token call at that position (tests check both). Cached positions past the kept tokens hold the rejected
/// draft's keys and values: they are overwritten by the next call before anything reads them.
struct DecodeLoop {
    let model: LlamaModel
    let sampler: Sampler
    let lookup: PromptLookup
    let speculate: Bool
    let maxTokens: Int
    let repeatLastN: Int
    let stopLoops: Bool
    private(set) var drafted = 0, accepted = 0, verifySteps = 0, generated = 0
    /// "length", "context", "repetition" or "cancelled" when the loop ended it; nil when `emit` did.
    private(set) var stopReason: String?

    init(model: LlamaModel, sampler: Sampler, speculation: SpeculationParameters, maxTokens: Int, repeatLastN: Int,
         stopLoops: Bool = false) {
        self.model = model; self.sampler = sampler; lookup = PromptLookup(speculation)
        speculate = speculation.enabled; self.maxTokens = maxTokens; self.repeatLastN = repeatLastN
        self.stopLoops = stopLoops
    }

    /// Decodes after `cached` (whose last token's logits are in `model.logits`), appending every token that is run
    /// through the model to `cached`. `emit` gets each token of the reply in order and returns false to end it.
    mutating func run(cached: inout [Int32], isCancelled: () -> Bool, emit: (Int32) -> Bool) throws {
        let V = model.config.vocabSize, ctx = model.config.contextLength
        var recent = Array(cached.suffix(repeatLastN))
        var draft: [Int32] = [], batch: [Int32] = [], reply: [Int32] = []
        if stopLoops { reply.reserveCapacity(min(maxTokens, 4096)) }
        draft.reserveCapacity(model.maxLogitRows); batch.reserveCapacity(model.maxLogitRows)
        func remember(_ t: Int32) {
            recent.append(t)
            if recent.count > repeatLastN { recent.removeFirst(recent.count - repeatLastN) }
        }
        /// One token out: false when the reply ends with it.
        func out(_ t: Int32) -> Bool {
            generated += 1
            guard emit(t) else { return false }
            if generated >= maxTokens { stopReason = "length"; return false }
            if stopLoops {
                reply.append(t)
                if RepetitionLoop.ends(reply) { stopReason = "repetition"; return false }
            }
            return true
        }
        guard maxTokens > 0 else { stopReason = "length"; return }
        if isCancelled() { stopReason = "cancelled"; return }
        var tok = sampler.sample(model.logits.pointer, recent: recent[...])
        while true {
            guard out(tok) else { return }
            remember(tok)
            if cached.count >= ctx { stopReason = "context"; return }
            ForegroundWork.yield(isCancelled: isCancelled)      // speech being synthesized goes first
            if isCancelled() { stopReason = "cancelled"; return }
            draft.removeAll(keepingCapacity: true)
            let room = min(model.maxLogitRows - 1, ctx - cached.count - 1, maxTokens - generated)
            if speculate && room > 0 { lookup.propose(after: cached, tok, max: room, into: &draft) }
            batch.removeAll(keepingCapacity: true); batch.append(tok); batch += draft
            try model.forward(batch, pos0: cached.count, logitRows: batch.count)
            cached.append(tok)
            if draft.isEmpty {
                tok = sampler.sample(model.logits.pointer, recent: recent[...])
                continue
            }
            drafted += draft.count; verifySteps += 1
            var next: Int32? = nil
            for (i, d) in draft.enumerated() {
                let t = sampler.verify(model.rowLogits.pointer + i * V, recent: recent[...], draft: d)
                if t != d { next = t; break }
                accepted += 1
                cached.append(d)                     // its keys and values are in the cache already
                guard out(d) else { return }
                remember(d)
            }
            tok = next ?? sampler.sample(model.rowLogits.pointer + draft.count * V, recent: recent[...])
        }
    }
}

/// A reply stuck in a loop: its last tokens are one block of `periods` tokens `copies` times over, back to back.
/// Eight tokens are about a short clause, so three copies of anything from a clause to a long sentence end it; a
/// reply that lists or counts is not periodic token for token.
enum RepetitionLoop {
    static let periods = 8...64
    static let copies = 3

    static func ends(_ t: [Int32]) -> Bool {
        let n = t.count
        for L in periods where copies * L <= n {
            var i = n - (copies - 1) * L
            while i < n && t[i] == t[i - L] { i += 1 }
            if i == n { return true }
        }
        return false
    }
}
