/// The conversation so far, as the language model sees it: the system prompt, then user/assistant
/// exchanges, newest last, within a budget of tokens.
///
/// When the history grows past `budget`, the oldest exchanges are dropped — down to `lowWater` of the
/// budget, not just below it, so that the kept prefix (and the model's key/value cache for it) stays
/// the same for several turns instead of shifting every turn. The system prompt is always kept.
public struct ConversationHistory: Sendable {
    public struct Exchange: Sendable, Equatable, Codable {
        public var user: String
        public var assistant: String
        public init(user: String, assistant: String) { self.user = user; self.assistant = assistant }
    }

    public var systemPrompt: String
    public private(set) var exchanges: [Exchange] = []
    /// Maximum tokens of system prompt + history + the new user message.
    public var budget: Int
    /// After dropping, the history is at most this fraction of the budget.
    public var lowWater: Double
    /// Room kept for the next question when an exchange is added: the history is trimmed then, right after a
    /// reply, so the model can prefill the trimmed history while the user listens. Trimmed only when the next
    /// question arrives, the model prefilled the whole history again before answering (~5 s for 1,100 tokens).
    public var nextMessageReserve: Int
    /// Counts the tokens of a text; the default estimates 4 characters per token plus a few for the
    /// chat template. Give it the model's tokenizer for exact budgets.
    public var tokenCount: @Sendable (String) -> Int

    public static let estimatedTokens: @Sendable (String) -> Int = { ($0.utf8.count + 3) / 4 + 4 }

    public init(systemPrompt: String, budget: Int = 1536, lowWater: Double = 0.75, nextMessageReserve: Int = 0,
                tokenCount: @escaping @Sendable (String) -> Int = ConversationHistory.estimatedTokens) {
        self.systemPrompt = systemPrompt; self.budget = budget; self.lowWater = lowWater
        self.nextMessageReserve = nextMessageReserve; self.tokenCount = tokenCount
    }

    /// The messages for the next reply: system prompt, the kept exchanges, and `user`.
    /// Drops the oldest exchanges first if the new message would not fit.
    public mutating func messages(adding user: String) -> [ChatMessage] {
        trim(extra: tokenCount(user))
        return messages + [ChatMessage(.user, user)]
    }

    /// The messages before a next user message: system prompt and the kept exchanges.
    public var messages: [ChatMessage] {
        var m: [ChatMessage] = systemPrompt.isEmpty ? [] : [ChatMessage(.system, systemPrompt)]
        for e in exchanges { m.append(ChatMessage(.user, e.user)); m.append(ChatMessage(.assistant, e.assistant)) }
        return m
    }

    public mutating func append(user: String, assistant: String) {
        exchanges.append(Exchange(user: user, assistant: assistant))
        trim(extra: nextMessageReserve)
    }

    /// Forgets every exchange; keeps the system prompt.
    public mutating func clear() { exchanges.removeAll() }

    /// Tokens of the system prompt and the kept exchanges.
    public var tokens: Int {
        (systemPrompt.isEmpty ? 0 : tokenCount(systemPrompt))
            + exchanges.reduce(0) { $0 + tokenCount($1.user) + tokenCount($1.assistant) }
    }

    private mutating func trim(extra: Int) {
        var total = tokens + extra
        guard total > budget else { return }
        let target = Int(Double(budget) * lowWater)
        // Oldest first, down to the low-water mark, but the newest exchange goes only if it does not fit.
        var drop = 0
        func cost(_ i: Int) -> Int { tokenCount(exchanges[i].user) + tokenCount(exchanges[i].assistant) }
        while drop < exchanges.count - 1 && total > target { total -= cost(drop); drop += 1 }
        if total > budget && drop < exchanges.count { total -= cost(drop); drop += 1 }
        exchanges.removeFirst(drop)
    }
}
