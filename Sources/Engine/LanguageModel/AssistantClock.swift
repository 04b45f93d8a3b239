import Foundation

/// Date and time for the assistant, from the machine's clock and time zone, placed so the model's key/value cache
/// stays reusable: the date goes at the end of the system prompt (it changes once a day), the time of day only into
/// a question that is about the time of day, as a short note after the user's words (so no prefix changes every
/// minute). Questions about the date ("what day is it today?") are answered from the system prompt: a note on them
/// would only cost prefill before the first word of the reply.
public struct AssistantClock: Sendable {
    public var now: @Sendable () -> Date
    public var timeZone: TimeZone
    public var locale: Locale

    public init(now: @escaping @Sendable () -> Date = { Date() }, timeZone: TimeZone = .current,
                locale: Locale = Locale(identifier: "en_US")) {
        self.now = now; self.timeZone = timeZone; self.locale = locale
    }

    /// The system prompt with today's date: "… Today is Saturday, December 5, 2026."
    public func systemPrompt(_ base: String) -> String {
        guard !base.isEmpty else { return base }
        return base + " Today is \(format("EEEE, MMMM d, yyyy", now()))."
    }

    /// The user's words as the model gets them: with the time of day and the time zone appended when the question
    /// asks about the clock (about ten tokens: "(Local time: 9:41 AM, CET (Europe/Berlin).)").
    public func prompt(_ question: String) -> String {
        guard Self.isAboutTime(question) else { return question }
        let d = now()
        return question + "\n(Local time: \(format("h:mm a", d)), \(zoneName(d)).)"
    }

    /// Words that make a question about the time of day (whole words, any case). Not "times" ("seven times eight"),
    /// not the calendar's words: the date is in the system prompt.
    static let timeWords: Set<String> = [
        "time", "clock", "hour", "hours", "minute", "minutes", "o'clock", "oclock", "tonight", "morning", "afternoon",
        "evening", "midnight", "noon", "late", "early",
    ]

    public static func isAboutTime(_ text: String) -> Bool {
        let words = text.lowercased().split { !($0.isLetter || $0 == "'" || $0 == "’") }
            .map { $0.replacingOccurrences(of: "’", with: "'") }
        return words.contains { timeWords.contains($0) || ($0.hasSuffix("'s") && timeWords.contains(String($0.dropLast(2)))) }
    }

    private func format(_ pattern: String, _ d: Date) -> String {
        let f = DateFormatter()
        f.locale = locale; f.timeZone = timeZone; f.dateFormat = pattern
        return f.string(from: d)
    }

    private func zoneName(_ d: Date) -> String {
        let id = timeZone.identifier
        let abbr = timeZone.abbreviation(for: d) ?? ""
        if id.hasPrefix("Etc/") || id == "UTC" || id == "GMT" { return abbr.isEmpty ? "UTC" : abbr }
        return abbr.isEmpty || abbr == id ? id : "\(abbr) (\(id))"
    }
}
