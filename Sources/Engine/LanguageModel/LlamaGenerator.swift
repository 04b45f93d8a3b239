import Atomics
import Foundation

/// Timings of one reply (the `--json` figures).
public struct GenerationStats: Sendable, Codable, Equatable {
    public var promptTokens = 0          // tokens in the whole prompt
    public var prefillTokens = 0         // of which actually run (the rest came from the cache)
    public var generatedTokens = 0
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
    public var timeToFirstToken = 0.0    // from the call to the first text piece
    public var droppedMessages = 0       // oldest turns left out to fit the context
    public var stopReason = ""           // "eos", "stop", "length", "context", "repetition", "cancelled"
    public var draftedTokens = 0         // speculative decoding: tokens proposed
    public var acceptedTokens = 0        //   of which the model confirmed
    public var verifySteps = 0           //   model calls that checked a draft
    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(prefillTokens) / prefillSeconds : 0 }
    /// Decode rate over the tokens after the first (the first comes from the prefill's logits).
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(max(generatedTokens - 1, 0)) / decodeSeconds : 0 }
    public init() {}
}

/// The default `ResponseGenerating`: a llama/qwen2 GGUF model run in Confab's engine.
///
/// The caller passes the whole conversation each time; the key/value cache is kept for the longest token prefix
/// shared with the previous call, so a follow-up prefills only its new tokens. When the conversation no longer
/// fits the context, the oldest turns are dropped (the system prompt stays). One reply runs at a time.
public final class LlamaGenerator: ResponseGenerating, @unchecked Sendable {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    public var sampling: SamplingParameters
    /// Used when the conversation has no system message of its own.
    public var systemPrompt: String?
    public let loadSeconds: Double
    /// Token room kept free for the reply when deciding which turns fit.
    public var replyReserve = 256
    /// Speculative decoding: drafts checked several tokens per model call (same tokens with greedy decoding,
    /// the same distribution when sampling). Off by default: on spoken questions prompt lookup's drafts were accepted
    /// 5-25% of the time and the replies came slower (`confab ask --draft lookup --json` against `--draft off`).
    public var speculation = SpeculationParameters.off

    /// Set by `repliesWillBeSpoken()`: after a token with sentence or clause punctuation, and the token after it (a
    /// sentence end is certain only with the next character), the decode waits up to `speechHandOffMicroseconds`
    /// for the synthesizer to be handed the sentence, so the first words are synthesized on both cores rather than
    /// beside the next token. Costs ~2 ms on the tokens after which no sentence came.
    private let speakingReplies = ManagedAtomic<Bool>(false)
    static let speechHandOffMicroseconds = 2000

    private let queue = DispatchQueue(label: "confab.llm")
    private var cached: [Int32] = []          // tokens whose keys/values are in the cache, in order
    private let lock = NSLock()
    private var _lastStats = GenerationStats()
    public var lastStats: GenerationStats { lock.withLock { _lastStats } }

    public init(path: String, contextLimit: Int? = 4096, sampling: SamplingParameters = SamplingParameters(),
                systemPrompt: String? = defaultSpokenSystemPrompt) throws {
        let t0 = Date()
        let file = try GGUFFile(path: path)
        model = try LlamaModel(file: file, contextLimit: contextLimit)
        tokenizer = try Tokenizer(gguf: file)
        template = ChatTemplate.detect(gguf: file, tokenizer: tokenizer)
        self.sampling = sampling
        self.systemPrompt = systemPrompt
        loadSeconds = Date().timeIntervalSince(t0)
    }

    /// Convenience: a model name from the store (nil: the default) or a path.
    public convenience init(model nameOrPath: String?, contextLimit: Int? = 4096,
                            sampling: SamplingParameters = SamplingParameters(),
                            systemPrompt: String? = defaultSpokenSystemPrompt) throws {
        let url = try ModelStore().resolve(nameOrPath, kind: .llm)
        try self.init(path: url.path, contextLimit: contextLimit, sampling: sampling, systemPrompt: systemPrompt)
    }

    // MARK: ResponseGenerating

    public func repliesWillBeSpoken() { speakingReplies.store(true, ordering: .relaxed) }

    public func reply(to messages: [ChatMessage]) -> AsyncThrowingStream<String, Error> {
        let cancelled = ManagedAtomic<Bool>(false)
        return AsyncThrowingStream { continuation in
            continuation.onTermination = { _ in cancelled.store(true, ordering: .relaxed) }
            queue.async { [self] in
                ProcessPriority.raiseCurrentThread()
                do {
                    _ = try generate(messages, isCancelled: { cancelled.load(ordering: .relaxed) }) { piece in
                        continuation.yield(piece)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        }
    }

    /// Prefills, in the background, the tokens that every next prompt after `messages` starts with (the system
    /// prompt and the turns so far, up to the opening of the next message), so the next reply prefills only
    /// the new user message. A `reply` asked for meanwhile waits for it (one queue).
    public func prepare(_ messages: [ChatMessage]) {
        queue.async { [self] in
                ProcessPriority.raiseCurrentThread()
            guard let (withNext, _) = try? promptTokens(for: messages + [ChatMessage(.user, "?")]),
                  let (alone, _) = try? promptTokens(for: messages) else { return }
            var shared = 0
            while shared < min(withNext.count, alone.count), withNext[shared] == alone[shared] { shared += 1 }
            prefillInBackground(alone, count: shared, piece: Self.preparePiece)
        }
    }

    /// Prefills, in the background, the part of the next prompt that the words of a user message heard so far (a
    /// partial transcript of a question still being spoken) make certain: the next `reply` then prefills only the
    /// words after them. Every call supersedes the one before that has not started; words that turn out otherwise
    /// cost only their prefill (the reply keeps the cache up to the first token that differs).
    public func prepare(_ messages: [ChatMessage], userSoFar words: String) {
        let generation = heardGeneration.wrappingIncrementThenLoad(ordering: .relaxed)
        queue.async { [self] in
                ProcessPriority.raiseCurrentThread()
            guard generation == heardGeneration.load(ordering: .relaxed),
                  let (heard, _) = try? promptTokens(for: messages + [ChatMessage(.user, words)]),
                  let (more, _) = try? promptTokens(for: messages + [ChatMessage(.user, words + " and more")])
            else { return }
            // The tokens before the message's closing template tokens, less the last word's token (the word may go on).
            var shared = 0
            while shared < min(heard.count, more.count), heard[shared] == more[shared] { shared += 1 }
            prefillInBackground(heard, count: shared - 1, piece: Self.heardPiece) {
                generation != self.heardGeneration.load(ordering: .relaxed)
            }
        }
    }

    /// On the queue: runs `tokens[..<count]` that are not cached yet, in pieces of `piece` tokens, each after any
    /// speech synthesis in progress. Does not cut the cache back when it holds them all already (e.g. a reply's own
    /// tokens after them). Stops between pieces when `superseded`.
    private func prefillInBackground(_ tokens: [Int32], count: Int, piece: Int, superseded: () -> Bool = { false }) {
        guard count > 1 else { return }
        var common = keepCached(tokens, count: count)
        if common == count { return }
        while common < count {
            ForegroundWork.yield(isCancelled: { false })
            if superseded() { return }
            let end = min(count, common + piece)
            do { try model.forward(Array(tokens[common..<end]), pos0: common) } catch { cached.removeAll(); return }
            cached += tokens[common..<end]
            common = end
        }
    }

    /// How many of `tokens[..<count]` the cache holds, leaving `cached` as a prefix of `tokens` (or holding all
    /// `count` and more). Where the cache holds `A B C` and the tokens are `A C …` (old turns dropped from the
    /// conversation, B, with at least `minShiftTokens` of C after them), C's keys and values are moved down over B
    /// (`LlamaModel.shiftCache`) instead of running C again: with the 1.5B model on two cores, running a trimmed
    /// history of ~1,100 tokens again took 4-7 s, and the next question waited for it.
    private func keepCached(_ tokens: [Int32], count: Int) -> Int {
        var common = 0
        while common < min(cached.count, count), cached[common] == tokens[common] { common += 1 }
        if common == count { return count }
        var kept = common
        if common > 0 && common < cached.count {
            // the first place after `common` where the cache goes on as the tokens do, for long enough
            var j = common + 1
            while j < cached.count {
                if cached[j] == tokens[common] {
                    var m = 0
                    while j + m < cached.count, common + m < count, cached[j + m] == tokens[common + m] { m += 1 }
                    if m >= Self.minShiftTokens {
                        model.shiftCache(from: common, drop: j - common, count: m)
                        kept = common + m
                        break
                    }
                }
                j += 1
            }
        }
        cached = Array(tokens[..<kept])
        return kept
    }

    /// Shortest run of cached tokens worth moving rather than running again.
    static let minShiftTokens = 16

    /// Superseding count of `prepare(_:userSoFar:)`.
    private let heardGeneration = ManagedAtomic<Int>(0)
    /// Tokens per step of prefilling words heard so far: a reply that comes meanwhile waits at most one step.
    static let heardPiece = 16

    /// Tokens per background prefill step (a speech synthesis that starts meanwhile waits at most one step).
    static let preparePiece = 64

    // MARK: generation

    /// The conversation as it will be prompted: the system prompt first (added if missing), then as many of the
    /// latest turns as fit in the context with room for the reply. Returns the tokens and how many messages were dropped.
    public func promptTokens(for messages: [ChatMessage]) throws -> (tokens: [Int32], dropped: Int) {
        var system: [ChatMessage] = messages.filter { $0.role == .system }.prefix(1).map { $0 }
        if system.isEmpty, let s = systemPrompt, !s.isEmpty { system = [ChatMessage(.system, s)] }
        var turns = messages.filter { $0.role != .system }
        let ctx = model.config.contextLength
        let budget = max(ctx - min(replyReserve, ctx / 4), 1)
        var dropped = 0
        while true {
            let ids = template.tokens(system + turns, tokenizer: tokenizer)
            if ids.count <= budget { return (ids, dropped) }
            // Drop the oldest turn; a user turn goes with the assistant answer that followed it.
            guard turns.count > 1 else { throw LanguageModelError.promptTooLong(ids.count, ctx) }
            turns.removeFirst(); dropped += 1
            if turns.count > 1, turns.first?.role == .assistant { turns.removeFirst(); dropped += 1 }
        }
    }

    /// Writes the reply to `messages`, calling `onText` with each complete piece of text. Runs on the caller's thread.
    @discardableResult
    public func generate(_ messages: [ChatMessage], isCancelled: () -> Bool = { false },
                         onText: (String) -> Void) throws -> GenerationStats {
        let t0 = Date()
        var stats = GenerationStats()
        let (prompt, dropped) = try promptTokens(for: messages)
        stats.droppedMessages = dropped
        stats.promptTokens = prompt.count
        defer { lock.withLock { _lastStats = stats } }
        let first = try prefill(prompt, stats: &stats)
        stats.prefillSeconds = Date().timeIntervalSince(t0)
        try decode(from: first, stats: &stats, start: t0, isCancelled: isCancelled, onText: onText)
        return stats
    }

    /// Runs the prompt's tokens that are not already cached; returns nothing but leaves the logits of the last token.
    private func prefill(_ prompt: [Int32], stats: inout GenerationStats) throws -> Int {
        let common = keepCached(prompt, count: prompt.count - 1)   // the last token runs again for its logits
        stats.prefillTokens = prompt.count - common
        do {
            try model.forward(Array(prompt[common...]), pos0: common)
        } catch {
            cached.removeAll()
            throw error
        }
        cached = prompt
        return common
    }

    private func decode(from _: Int, stats: inout GenerationStats, start t0: Date, isCancelled: () -> Bool,
                        onText: (String) -> Void) throws {
        let sampler = Sampler(vocabSize: model.config.vocabSize, params: sampling)
        var decoder = StreamingDecoder(tokenizer)
        var held = ""                // text not yet sent because it may be the start of a stop string
        let stops = sampling.stop.filter { !$0.isEmpty }
        var firstSent = false
        let handOff = speakingReplies.load(ordering: .relaxed)
        var afterPunctuation = false
        func send(_ s: String) {
            guard !s.isEmpty else { return }
            if !firstSent { stats.timeToFirstToken = Date().timeIntervalSince(t0); firstSent = true }
            onText(s)
            if handOff {
                let punctuation = s.contains { ".!?,;:\n—–".contains($0) }
                if punctuation || afterPunctuation {
                    ForegroundWork.expect(microseconds: Self.speechHandOffMicroseconds, isCancelled: isCancelled)
                }
                afterPunctuation = punctuation
            }
        }
        var tDecode: Date? = nil
        defer { if let tDecode { stats.decodeSeconds = Date().timeIntervalSince(tDecode) } }
        var loop = DecodeLoop(model: model, sampler: sampler, speculation: speculation, maxTokens: sampling.maxTokens,
                              repeatLastN: sampling.repeatLastN, stopLoops: sampling.stopLoops)
        var stop = "length"
        try loop.run(cached: &cached, isCancelled: isCancelled) { tok in
            stats.generatedTokens += 1
            if tDecode == nil { tDecode = Date() }
            if tokenizer.endOfGeneration.contains(tok) { stop = "eos"; return false }
            held += decoder.push(tok)
            if !stops.isEmpty {
                if let r = stops.compactMap({ held.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
                    send(String(held[..<r.lowerBound])); held = ""
                    stop = "stop"
                    return false
                }
                // Keep back the longest tail that is a prefix of some stop string.
                var keep = 0
                for s in stops {
                    for k in stride(from: min(s.count, held.count), to: 0, by: -1) where held.hasSuffix(s.prefix(k)) {
                        keep = max(keep, k); break
                    }
                }
                let cut = held.index(held.endIndex, offsetBy: -keep)
                send(String(held[..<cut])); held = String(held[cut...])
            } else {
                send(held); held = ""
            }
            return true
        }
        stats.draftedTokens = loop.drafted; stats.acceptedTokens = loop.accepted; stats.verifySteps = loop.verifySteps
        stats.stopReason = loop.stopReason ?? stop
        if loop.stopReason == "cancelled" { return }
        send(held + decoder.flush())
    }

    /// Forgets the cached conversation (the next call prefills from scratch).
    public func reset() { queue.sync { cached.removeAll() } }

    /// Raw continuation of `tokens` (no chat format): greedy or sampled ids, for benchmarks and parity checks.
    public func complete(_ tokens: [Int32], count: Int, onToken: (Int32) -> Void = { _ in }) throws -> [Int32] {
        cached.removeAll()
        try model.forward(tokens, pos0: 0)
        var pos = tokens.count
        let sampler = Sampler(vocabSize: model.config.vocabSize, params: sampling)
        var out: [Int32] = []
        for _ in 0..<count {
            let t = sampler.sample(model.logits.pointer, recent: (tokens + out).suffix(sampling.repeatLastN))
            out.append(t); onToken(t)
            guard pos < model.config.contextLength else { break }
            try model.forward([t], pos0: pos); pos += 1
        }
        return out
    }
}
