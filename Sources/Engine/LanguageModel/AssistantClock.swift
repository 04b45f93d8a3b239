import Foundation

/// Date and time for the assistant, from the machine's clock and time zone, placed so the model's key/value cache
/// stays reusable: the date goes at the end of the system prompt (it changes once a day), the time of day only into
/// a question that is about time or dates, as a note after the user's words (so no prefix changes every minute).
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

    /// The user's words as the model gets them: with the date, the time and the time zone appended when the
    /// question asks about them.
    public func prompt(_ question: String) -> String {
        guard Self.isAboutTime(question) else { return question }
        let d = now()
        return question + "\n(The local time now is \(format("h:mm a", d)) on \(format("EEEE, MMMM d, yyyy", d)), time zone \(zoneName(d)).)"
    }

    /// Words that make a question about the clock or the calendar (whole words, any case).
    static let timeWords: Set<String> = [
        "time", "times", "clock", "hour", "hours", "minute", "minutes", "o'clock", "oclock", "date", "dates", "day", "days",
        "today", "today's", "tonight", "tomorrow", "yesterday", "week", "weekday", "weekend", "month", "year", "morning",
        "afternoon", "evening", "midnight", "noon", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
        "sunday", "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
        "november", "december", "calendar", "now", "late", "early", "season",
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
