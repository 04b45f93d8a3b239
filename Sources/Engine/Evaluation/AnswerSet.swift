import Foundation

/// A set of questions with the answers accepted for each, for `confab bench answers`: is the reply right?
///
/// The file (JSON): `{"questions": [{"q": "...", "accept": ["regex", ...], "reject": ["regex", ...]},
/// {"q": "What time is it?", "clock": "time"}, ...]}`. Patterns are case-insensitive regular expressions; a reply
/// is right when any accept pattern matches and no reject pattern does. A clock question is checked against the
/// clock at the moment it was asked (`time`, `weekday`, `date`, `month` or `year`).
public struct AnswerSet: Sendable {
    public struct Question: Sendable {
        public var text: String
        public var accept: [NSRegularExpression]
        public var reject: [NSRegularExpression]
        public var clock: ClockAnswer?
    }

    public enum ClockAnswer: String, Sendable, CaseIterable, Codable {
        case time, weekday, date, month, year
    }

    public var questions: [Question]

    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    private struct File: Decodable {
        struct Entry: Decodable { var q: String; var accept: [String]?; var reject: [String]?; var clock: ClockAnswer? }
        var questions: [Entry]
    }

    /// The set Confab carries: `assets/questions/everyday.json`.
    public static func builtIn() throws -> AnswerSet { try load(try assetURL("questions/everyday.json").path) }

    public static func load(_ path: String) throws -> AnswerSet {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LoadError(description: "\(path): cannot read (\(error.localizedDescription))")
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw LoadError(description: "\(path): not a question set (\(Self.describe(error)))")
        }
        guard !file.questions.isEmpty else { throw LoadError(description: "\(path): no questions") }
        var out: [Question] = []
        for (i, e) in file.questions.enumerated() {
            let text = e.q.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw LoadError(description: "\(path): question \(i + 1) is empty") }
            func compile(_ ps: [String]?) throws -> [NSRegularExpression] {
                try (ps ?? []).map { p in
                    do { return try NSRegularExpression(pattern: p, options: [.caseInsensitive]) } catch {
                        throw LoadError(description: "\(path): question \(i + 1) (\(text)): bad pattern \(p)")
                    }
                }
            }
            let q = Question(text: text, accept: try compile(e.accept), reject: try compile(e.reject), clock: e.clock)
            guard !q.accept.isEmpty || q.clock != nil else {
                throw LoadError(description: "\(path): question \(i + 1) (\(text)) has neither accept patterns nor a clock check")
            }
            out.append(q)
        }
        return AnswerSet(questions: out)
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let k, let c): return "missing \(k.stringValue) at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c): return "\(c.debugDescription) at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted(let c): return c.debugDescription
        default: return "\(error)"
        }
    }
}

extension AnswerSet.Question {
    /// Whether `reply` answers this question; `askedAt` is when it was asked, on `clock`'s time zone.
    public func isRight(_ reply: String, askedAt: Date, clock: AssistantClock) -> Bool {
        let text = reply.replacingOccurrences(of: "’", with: "'")
        let range = NSRange(text.startIndex..., in: text)
        func matches(_ r: NSRegularExpression) -> Bool { r.firstMatch(in: text, range: range) != nil }
        if reject.contains(where: matches) { return false }
        if let kind = self.clock { return Self.clockRight(text, kind, askedAt: askedAt, on: clock) }
        return accept.contains(where: matches)
    }

    static func clockRight(_ text: String, _ kind: AnswerSet.ClockAnswer, askedAt: Date, on clock: AssistantClock) -> Bool {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = clock.timeZone
        let lower = text.lowercased()
        let months = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
                      "november", "december"]
        let weekdays = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
        let c = cal.dateComponents([.year, .month, .day, .weekday, .hour, .minute], from: askedAt)
        let month = months[c.month! - 1], weekday = weekdays[c.weekday! - 1]
        func has(_ pattern: String) -> Bool { lower.range(of: pattern, options: .regularExpression) != nil }
        switch kind {
        case .year:
            return has("\\b\(c.year!)\\b")
        case .month:
            return has("\\b\(month)\\b")
        case .weekday:
            return has("\\b\(weekday)\\b") && !weekdays.contains { $0 != weekday && has("\\b\($0)\\b") }
        case .date:
            let d = c.day!
            let ordinal = "\(d)(st|nd|rd|th)?"
            return has("\\b\(month) \(ordinal)\\b") || has("\\b\(ordinal) (of )?\(month)\\b")
                || has("\\b0?\(c.month!)/0?\(d)/(\(c.year!)|\(c.year! % 100))\\b")
                || has(String(format: "\\b%04d-%02d-%02d\\b", c.year!, c.month!, d))
        case .time:
            // Any h:mm in the reply within two minutes of the moment asked: 24-hour, or 12-hour with or without
            // a.m./p.m. (without, either half of the day counts).
            let now = c.hour! * 60 + c.minute!
            let r = try! NSRegularExpression(pattern: "\\b(\\d{1,2}):(\\d{2})\\b(?:\\s*([ap])\\.?\\s*m\\b)?")
            for m in r.matches(in: lower, range: NSRange(lower.startIndex..., in: lower)) {
                guard let hr = Range(m.range(at: 1), in: lower), let mr = Range(m.range(at: 2), in: lower),
                      let h = Int(lower[hr]), let mm = Int(lower[mr]), h < 24, mm < 60 else { continue }
                let half = Range(m.range(at: 3), in: lower).map { String(lower[$0]) }
                var hours: [Int]
                switch (half, h) {
                case ("a", 1...12): hours = [h % 12]
                case ("p", 1...12): hours = [h % 12 + 12]
                case (_, 13...): hours = [h]
                default: hours = [h % 12, h % 12 + 12]
                }
                if h == 0 { hours = [0] }
                for h24 in hours {
                    let diff = abs(h24 * 60 + mm - now)
                    if min(diff, 1440 - diff) <= 2 { return true }
                }
            }
            return false
        }
    }
}
