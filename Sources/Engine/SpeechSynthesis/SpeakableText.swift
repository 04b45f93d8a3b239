import Foundation

/// Text written for the screen made fit to be spoken: markdown markup, code blocks, URLs and emoji are
/// removed or said in words; then split into sentences so synthesis can start on the first one.
public enum SpeakableText {
    /// Speakable text that stops mid-sentence (a reply's chunk cut before a phrase, a list item) ends in a comma for the
    /// voice: it then rises and pauses as before the rest of a sentence, instead of falling as at a sentence's end.
    public static func endingAsClause(_ text: String) -> String {
        guard let last = text.last, last.isLetter || last.isNumber else { return text }
        return text + ","
    }

    /// Markdown/code/URL/emoji clean-up. Keeps sentence punctuation.
    public static func clean(_ text: String) -> String {
        var lines: [String] = []
        var inFence = false
        for raw in text.components(separatedBy: "\n") {
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
                // A code block is not read out character by character: say that there is one.
                if !inFence { lines.append("Here is a code block.") }
                inFence.toggle()
                continue
            }
            if inFence { continue }
            var line = trimmed
            // Headings, quotes, list bullets, table pipes, horizontal rules.
            while let f = line.first, f == "#" || f == ">" { line.removeFirst(); line = line.trimmingCharacters(in: .whitespaces) }
            if line.range(of: #"^([-*_]\s*){3,}$"#, options: .regularExpression) != nil { continue }
            if let r = line.range(of: #"^([-*+]|\d+[.)])\s+"#, options: .regularExpression) { line.removeSubrange(r) }
            line = line.replacingOccurrences(of: "|", with: ", ")
            lines.append(line)
        }
        // Paragraph breaks end sentences; single line breaks are spaces.
        var s = ""
        for l in lines {
            if l.isEmpty { s += "\n\n"; continue }
            if !s.isEmpty && !s.hasSuffix("\n\n") {
                // A list item or heading without final punctuation still ends a phrase.
                if let last = s.last, !".!?,;:".contains(last) { s += "," }
                s += " "
            }
            s += l
        }
        // Links and images: keep the link text; bare URLs become their host name.
        s = s.replacingOccurrences(of: #"!\[([^\]]*)\]\([^)]*\)"#, with: "$1", options: .regularExpression)
        s = s.replacingOccurrences(of: #"\[([^\]]+)\]\([^)]*\)"#, with: "$1", options: .regularExpression)
        s = replaceURLs(s)
        // Inline code keeps its text; emphasis markers go.
        s = s.replacingOccurrences(of: "`", with: "")
        s = s.replacingOccurrences(of: #"(\*\*|__|\*|~~)"#, with: "", options: .regularExpression)
        s = s.replacingOccurrences(of: #"(?<=\s|^)_(?=\S)|(?<=\S)_(?=\s|$|[.,!?])"#, with: "", options: .regularExpression)
        // Emoji and pictographs are dropped (a few common ones are said).
        var out = ""
        for ch in s {
            if let word = emojiWords[ch] { out += " \(word) "; continue }
            if isEmoji(ch) { continue }
            out.append(ch)
        }
        // Symbols espeak would spell oddly.
        out = out.replacingOccurrences(of: "&", with: " and ")
        out = out.replacingOccurrences(of: #"[ \t]+"#, with: " ", options: .regularExpression)
        out = out.replacingOccurrences(of: #" ([,.!?;:])"#, with: "$1", options: .regularExpression)
        out = out.replacingOccurrences(of: #",\s*,"#, with: ",", options: .regularExpression)
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static let emojiWords: [Character: String] = ["👍": "thumbs up", "❤️": "love", "😀": "", "🙂": ""]

    static func isEmoji(_ ch: Character) -> Bool {
        for u in ch.unicodeScalars {
            if u.properties.isEmojiPresentation { return true }
            if u.properties.isEmoji && u.value > 0x2000 && !(0x2010...0x2027).contains(u.value) { return true }
            if u.value == 0xFE0F || u.value == 0x200D || (0x1F3FB...0x1F3FF).contains(u.value) { return true }
        }
        return false
    }

    static func replaceURLs(_ s: String) -> String {
        guard let re = try? NSRegularExpression(pattern: #"\b(https?://|www\.)[^\s)\]>]+"#) else { return s }
        var result = s
        let ns = s as NSString
        for m in re.matches(in: s, range: NSRange(location: 0, length: ns.length)).reversed() {
            var url = ns.substring(with: m.range)
            while let l = url.last, ".,;:!?".contains(l) { url.removeLast() }
            var host = url
            if let r = host.range(of: "://") { host = String(host[r.upperBound...]) }
            host = String(host.split(separator: "/").first ?? "")
            if host.hasPrefix("www.") { host.removeFirst(4) }
            let spoken = host.replacingOccurrences(of: ".", with: " dot ")
            let r = Range(NSRange(location: m.range.location, length: (url as NSString).length), in: result)!
            result.replaceSubrange(r, with: spoken.isEmpty ? "a link" : spoken)
        }
        return result
    }

    static let abbreviations: Set<String> = [
        "dr", "mr", "mrs", "ms", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "fig", "no", "vol", "approx",
        "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "mt", "ave", "dept", "est", "cf", "al",
    ]

    /// Splits into sentences at . ! ? (and paragraph breaks), not at abbreviations ("Dr.", "e.g."), decimal
    /// points ("3.5"), ellipses, or inside quotes/brackets.
    public static func sentences(_ text: String) -> [String] {
        let chars = Array(text)
        var out: [String] = []
        var cur = ""
        var quoteDepth = 0, bracketDepth = 0
        var i = 0
        func flush() {
            let t = cur.trimmingCharacters(in: .whitespacesAndNewlines)
            if !t.isEmpty { out.append(t) }
            cur = ""
        }
        while i < chars.count {
            let c = chars[i]
            cur.append(c)
            switch c {
            case "\u{201C}": quoteDepth += 1
            case "\u{201D}": quoteDepth = max(0, quoteDepth - 1)
            case "\"": quoteDepth = quoteDepth > 0 ? quoteDepth - 1 : 1
            case "(", "[": bracketDepth += 1
            case ")", "]": bracketDepth = max(0, bracketDepth - 1)
            case "\n":
                if i + 1 < chars.count && chars[i + 1] == "\n" { quoteDepth = 0; bracketDepth = 0; flush() }
            case ".", "!", "?", "\u{2026}":
                // Take the whole run of terminators (?!, ...) and closing quotes.
                var j = i + 1
                while j < chars.count, ".!?\u{2026}".contains(chars[j]) { cur.append(chars[j]); j += 1 }
                var closes = false
                while j < chars.count, "\"\u{201D}')]".contains(chars[j]) {
                    cur.append(chars[j])
                    if chars[j] == "\"" || chars[j] == "\u{201D}" { quoteDepth = max(0, quoteDepth - 1); closes = true }
                    if chars[j] == ")" || chars[j] == "]" { bracketDepth = max(0, bracketDepth - 1) }
                    j += 1
                }
                _ = closes
                let run = j - i
                let atEnd = j >= chars.count
                let followedBySpace = atEnd || chars[j].isWhitespace
                i = j
                if !followedBySpace { continue }              // 3.5, e.g.x, file.txt
                if quoteDepth > 0 || bracketDepth > 0 { continue }
                if c == "." && run == 1 {
                    // the word before the period
                    let word = cur.dropLast().split(whereSeparator: { $0.isWhitespace || $0 == "(" || $0 == "\"" }).last.map(String.init) ?? ""
                    let w = word.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
                    if abbreviations.contains(w) { continue }
                    if w.count == 1, w.first!.isLetter { continue }   // initials: "J. Smith"
                }
                // An ellipsis trails off inside a sentence: never a break.
                if (c == "." && run >= 2) || c == "\u{2026}" || (run > 1 && chars[j - 1] == "\u{2026}") { continue }
                flush()
                continue
            default: break
            }
            i += 1
        }
        flush()
        return out
    }
}
