import Foundation

/// Decoding options, with faster-whisper's defaults.
public struct WhisperDecodingOptions: Sendable {
    public var beamSize = 5
    public var patience: Float = 1
    public var lengthPenalty: Float = 1
    public var withoutTimestamps = false
    public var suppressBlank = true
    /// Token ids never generated (faster-whisper: the non-speech symbols + task/sot/no-speech tokens = config suppress_ids).
    public var suppressTokens: [Int] = []
    /// Suppressed at the first generated step when suppressBlank (config suppress_ids_begin: " " and eot).
    public var suppressBegin: [Int] = []
    /// round(max_initial_timestamp 1.0 s / 0.02 s)
    public var maxInitialTimestampIndex = 50
    public init() {}
}

public struct WhisperDecodingResult: Sendable {
    public var tokens: [Int]               // generated tokens, eot excluded
    public var cumLogprob: Float           // including the eot step
    public var noSpeechProb: Float
    /// faster-whisper's avg_logprob: cum / (len + 1)
    public var avgLogprob: Float { cumLogprob / Float(tokens.count + 1) }
}

/// Greedy and beam-search decoding with Whisper's logit rules, as CTranslate2 applies them for faster-whisper:
/// suppress tokens, suppress blank at the first step, and (timestamp mode) the timestamp rules.
public struct WhisperDecoder {
    let model: WhisperModel
    let vocab: WhisperVocabulary
    /// Per-call scratch for one logits row (allocated once by the transcriber).
    let scratch: FloatBuffer

    public init(model: WhisperModel, vocab: WhisperVocabulary, scratch: FloatBuffer) {
        self.model = model; self.vocab = vocab; self.scratch = scratch
    }

    /// Applies the logit filters in place to `logits` (V values) given the tokens generated so far, then
    /// turns them into log-probabilities.
    func process(_ logits: UnsafeMutablePointer<Float>, generated: [Int], options o: WhisperDecodingOptions) {
        let V = model.config.nVocab
        let ninf = -Float.infinity
        for t in o.suppressTokens where t >= 0 && t < V { logits[t] = ninf }
        if o.suppressBlank && generated.isEmpty { for t in o.suppressBegin where t >= 0 && t < V { logits[t] = ninf } }
        if !o.withoutTimestamps {
            let tb = vocab.timestampBegin, eot = vocab.eot
            logits[vocab.noTimestamps] = ninf
            let n = generated.count
            let lastTS = n >= 1 && generated[n - 1] >= tb
            let penultimateTS = n < 2 || generated[n - 2] >= tb
            if lastTS {
                if penultimateTS { for t in tb..<V { logits[t] = ninf } }    // a pair just closed: text or eot next
                else { for t in 0..<eot { logits[t] = ninf } }               // after text+timestamp: timestamp or eot
            }
            if let lastStamp = generated.last(where: { $0 >= tb }) {
                // timestamps never decrease; a segment has non-zero length
                let limit = (lastTS && !penultimateTS) ? lastStamp : lastStamp + 1
                if tb < limit { for t in tb..<min(limit, V) { logits[t] = ninf } }
            }
            if n == 0 {
                for t in 0..<tb { logits[t] = ninf }                           // start with a timestamp
                let lastAllowed = tb + o.maxInitialTimestampIndex
                if lastAllowed + 1 < V { for t in (lastAllowed + 1)..<V { logits[t] = ninf } }
            }
            logSoftmaxInPlaceFast(logits, count: V)
            // if the timestamps together are more likely than any text token, emit a timestamp
            let tsLogprob = logSumExpFast(logits + tb, count: V - tb)
            let maxText = maxFast(logits, count: tb)
            if tsLogprob > maxText { for t in 0..<tb { logits[t] = ninf } }
        }
        logSoftmaxInPlaceFast(logits, count: V)
    }

    /// Decodes after `prompt` (prefilled here). `sotIndex`: position of <|startoftranscript|> in the prompt,
    /// whose next-token distribution gives the no-speech probability.
    public func decode(prompt: [Int], sotIndex: Int, options o: WhisperDecodingOptions) -> WhisperDecodingResult {
        let V = model.config.nVocab, C = model.config.nTextCtx
        let last = prompt.count - 1
        let rows = sotIndex == last ? [last] : [sotIndex, last]
        model.decodePrefill(prompt, start: 0, logitRows: rows)
        // no-speech probability: softmax of the raw logits at the sot position
        scratch.pointer.update(from: model.logits.pointer, count: V)
        softmaxInPlace(scratch.pointer, count: V)
        let noSpeech = scratch[vocab.noSpeech]
        let lastRow = model.logits.pointer + (rows.count - 1) * V   // filtered in place by the search
        // The generation may not run past the text context (faster-whisper's max_length is 448 in all).
        let maxNew = max(1, min(C / 2, C - prompt.count))
        if o.beamSize <= 1 {
            var tokens: [Int] = [], cum: Float = 0
            scratch.pointer.update(from: lastRow, count: V)
            var pos = prompt.count
            while !Task.isCancelled {          // a speculative recognition dropped because the user went on
                process(scratch.pointer, generated: tokens, options: o)
                var best = 0, bv = -Float.infinity
                for t in 0..<V where scratch[t] > bv { bv = scratch[t]; best = t }
                cum += bv
                if best == vocab.eot || tokens.count + 1 >= maxNew || pos >= C { if best != vocab.eot { tokens.append(best) }; break }
                tokens.append(best)
                model.decodeStep([best], position: pos)
                pos += 1
                scratch.pointer.update(from: model.logits.pointer, count: V)
            }
            return WhisperDecodingResult(tokens: tokens, cumLogprob: cum, noSpeechProb: noSpeech)
        }
        return beamSearch(prompt: prompt, firstLogits: lastRow, noSpeech: noSpeech, maxNew: maxNew, options: o)
    }

    private struct Hyp { var tokens: [Int]; var score: Float }

    /// Beam search over log-probabilities; finished hypotheses are ranked by score / length^lengthPenalty.
    /// Each step filters every live beam's logits row in place (model.logits row b) and takes its best 2K tokens,
    /// the beams spread over the engine threads. As CTranslate2 (faster-whisper) does: of the best 2K candidates
    /// over all beams, only the first K count; one of those that ends (eot) is a finished hypothesis and its place
    /// goes to the next candidate past K that does not end; the search stops when K × patience hypotheses have
    /// finished. (An eot ranked below the K live candidates is not a finished hypothesis: counting those let five
    /// unlikely early endings stop the search before the likely reply ended, "…remarkably natural" for a sentence
    /// that went on "audio. We benchmark them…".)
    private func beamSearch(prompt: [Int], firstLogits: UnsafeMutablePointer<Float>, noSpeech: Float, maxNew: Int, options o: WhisperDecodingOptions) -> WhisperDecodingResult {
        let V = model.config.nVocab, C = model.config.nTextCtx
        let K = min(o.beamSize, model.maxBeams)
        let target = max(1, Int((Float(K) * o.patience).rounded()))
        var live = [Hyp(tokens: [], score: 0)]
        var finished: [Hyp] = []
        var pos = prompt.count
        var step = 0
        // best N = 2K (log-probability, token) of each live beam, best first; count per beam
        let N = 2 * K
        let topScore = UnsafeMutablePointer<Float>.allocate(capacity: N * K)
        let topToken = UnsafeMutablePointer<Int>.allocate(capacity: N * K)
        let topCount = UnsafeMutablePointer<Int>.allocate(capacity: K)
        defer { topScore.deallocate(); topToken.deallocate(); topCount.deallocate() }
        nonisolated(unsafe) let (ts, tt, tc, logits0, logits) = (topScore, topToken, topCount, firstLogits, model.logits.pointer)
        while !Task.isCancelled {                  // a speculative recognition dropped because the user went on
            let first = step == 0
            EngineThreads.parallelChunks(live.count) { beams in
                for b in beams {
                    let row = first ? logits0 : logits + b * V
                    process(row, generated: live[b].tokens, options: o)
                    // insertion into a short sorted list; a later token never passes an equal earlier one
                    let s = ts + b * N, t = tt + b * N
                    var n = 0
                    for tok in 0..<V {
                        let v = row[tok]
                        if v == -Float.infinity || (n == N && !(v > s[N - 1])) { continue }
                        var j = min(n, N - 1)
                        while j > 0 && s[j - 1] < v { s[j] = s[j - 1]; t[j] = t[j - 1]; j -= 1 }
                        s[j] = v; t[j] = tok
                        n = min(n + 1, N)
                    }
                    tc[b] = n
                }
            }
            var cands: [(score: Float, beam: Int, token: Int)] = []
            for (b, h) in live.enumerated() {
                for j in 0..<topCount[b] { cands.append((h.score + topScore[b * N + j], b, topToken[b * N + j])) }
            }
            cands.sort { $0.score > $1.score }
            if cands.count > N { cands.removeLast(cands.count - N) }
            var next: [Hyp] = [], parents: [Int] = []
            var secondary = K                      // the next candidate past the first K that may take a place
            for k in 0..<min(K, cands.count) {
                var c = cands[k]
                if c.token == vocab.eot {
                    finished.append(Hyp(tokens: live[c.beam].tokens, score: c.score))
                    guard let j = (secondary..<cands.count).first(where: { cands[$0].token != vocab.eot }) else { secondary = cands.count; continue }
                    c = cands[j]; secondary = j + 1
                }
                next.append(Hyp(tokens: live[c.beam].tokens + [c.token], score: c.score)); parents.append(c.beam)
            }
            step += 1
            let lastStep = step >= maxNew || pos >= C
            if lastStep { finished += next }      // out of room: the live beams end here too
            if finished.count >= target || next.isEmpty || lastStep { break }
            model.reorderCache(parents: parents, length: pos)
            live = next
            model.decodeStep(live.map { $0.tokens.last ?? vocab.eot }, position: pos)
            pos += 1
        }
        func norm(_ h: Hyp) -> Float { h.score / powf(Float(max(h.tokens.count, 1)), o.lengthPenalty) }
        let best = finished.max { norm($0) < norm($1) } ?? Hyp(tokens: [], score: 0)
        return WhisperDecodingResult(tokens: best.tokens, cumLogprob: best.score, noSpeechProb: noSpeech)
    }

    /// Language detection (multilingual models): the most likely language token after <|startoftranscript|>.
    public func detectLanguage() -> (code: String, probability: Float)? {
        guard vocab.isMultilingual else { return nil }
        model.decodePrefill([vocab.sot], start: 0, logitRows: [0])
        let l = model.logits.pointer
        var m = -Float.infinity
        for (id, _) in vocab.languages where l[id] > m { m = l[id] }
        var s: Float = 0
        for (id, _) in vocab.languages { s += expf(l[id] - m) }
        guard let best = vocab.languages.max(by: { l[$0.id] < l[$1.id] }) else { return nil }
        return (best.code, expf(l[best.id] - m) / s)
    }
}
