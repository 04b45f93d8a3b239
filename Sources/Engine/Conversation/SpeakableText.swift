import Foundation

/// Turns a chunk of the model's display text into what should be said: markdown markup, code blocks,
/// URLs and emoji are shown on screen but not read aloud. Keeps state across chunks (code fences).
public struct SpeakableText: Sendable {
    private var inCodeBlock = false
    public init() {}

    /// The speakable form of one chunk; empty when nothing in it should be spoken.
    public mutating func speakable(_ chunk: String) -> String {
        var lines: [String] = []
        for rawLine in chunk.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") || line.hasPrefix("~~~") { inCodeBlock.toggle(); continue }
            if inCodeBlock { continue }
            lines.append(Self.clean(line))
        }
        return lines.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// Strips inline markup from one line.
    static func clean(_ line: String) -> String {
        var s = line
        // Headings, quotes, list bullets at the start of the line.
        while let f = s.first, f == "#" || f == ">" { s.removeFirst() }
        s = s.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("- ") || s.hasPrefix("* ") || s.hasPrefix("+ ") { s.removeFirst(2) }
        // [text](url) → text; bare URLs → "a link".
        s = s.replacingOccurrences(of: #"\[([^\]]*)\]\([^)]*\)"#, with: "$1", options: .regularExpression)
        s = s.replacingOccurrences(of: #"(https?://|www\.)\S+"#, with: "a link", options: .regularExpression)
        // Emphasis and inline code markers; the words inside stay.
        s = s.replacingOccurrences(of: #"(\*\*|__|\*|`|~~)"#, with: "", options: .regularExpression)
        // Emoji and pictographs are not spoken.
        s = String(String.UnicodeScalarView(s.unicodeScalars.filter { sc in
            !(sc.properties.isEmojiPresentation || (sc.properties.isEmoji && sc.value > 0x2000) || sc.value == 0xFE0F || sc.value == 0x200D)
        }))
        return s.replacingOccurrences(of: #"\s+"#, with: " ", options: .regularExpression).trimmingCharacters(in: .whitespaces)
    }
}
