import Foundation

/// Follows the model's reply chunk by chunk and keeps what should be said: code blocks (which can
/// span chunks) are shown on screen but not read aloud; the rest is made speakable by the one
/// clean-up the synthesizer uses (`SpeakableText.clean`: markdown, URLs, emoji).
public struct ReplySpeechFilter: Sendable {
    private var inCodeBlock = false
    public init() {}

    /// The speakable form of one chunk; empty when nothing in it should be spoken.
    public mutating func speakable(_ chunk: String) -> String {
        var lines: [String] = []
        for rawLine in chunk.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") || line.hasPrefix("~~~") { inCodeBlock.toggle(); continue }
            if inCodeBlock { continue }
            lines.append(line)
        }
        return SpeakableText.clean(lines.filter { !$0.isEmpty }.joined(separator: " "))
    }
}
