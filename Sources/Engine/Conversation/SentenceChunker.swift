/// Cuts a reply streamed token by token into speakable chunks, so speech synthesis can start on the
/// first sentence while the model is still writing the rest.
///
/// A chunk ends at a sentence end (. ! ? followed by white space and not a lowercase word), at a line
/// break, or — once the chunk is long enough — at a clause boundary (, ; : and dashes followed by a
/// space, or a space before an opening parenthesis); the first chunk of a reply may be cut at a clause earlier than the others,
/// and a long first sentence before a word that opens a phrase ("and", "which", "with"…), to speak sooner.
/// It never cuts after a title or abbreviation ("Dr.", "Mr.", "e.g.", "i.e."), an initial ("J. Smith"),
/// inside a number ("3.5", "1,000", "3:30"), at an ellipsis, after a list number ("1. First"), or inside
/// quotes or parentheses. Abbreviations that often end a sentence too ("etc.", "Inc.") end one only
/// before a capital letter or at the end of the reply. A decision that depends on the next character
/// waits for it (except a plain word's sentence end in the first chunk, which is spoken a token sooner);
/// `finish()` hands out whatever is left.
public struct SentenceChunker: Sendable {
    public struct Parameters: Sendable, Equatable {
        /// The first chunk may end at a clause boundary once it has this many characters.
        public var firstClauseMinLength = 24
        /// The first chunk may end before a word that opens a phrase ("and", "which", "because", "with"…) once it
        /// has this many characters: a long first sentence without commas is not waited for to its end.
        public var firstPhraseMinLength = 36
        /// … and before a conjunction ("and", "or", "but", "because", "which"…) once it has this many: those open a
        /// clause or the last item of a list wherever they stand, where a preposition may sit inside a noun phrase
        /// ("the symbol for gold"). The speech of such a chunk ends as a clause (`SpeakableText.endingAsClause`).
        public var firstConjunctionMinLength = 20
        /// Later chunks end at a clause boundary once they have this many characters.
        public var clauseMinLength = 80
        /// A chunk with no boundary at all is cut at the last space before this length.
        public var maxLength = 240
        public init() {}
    }

    public let parameters: Parameters
    private var pending: [Character] = []
    private var quoteOpenAtStart = false      // inside "…" at pending[0]
    private var chunksEmitted = 0

    public init(_ parameters: Parameters = Parameters()) { self.parameters = parameters }

    /// Titles and other abbreviations after which a period does not end a sentence.
    static let abbreviations: Set<String> = [
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "etc", "approx", "no",
        "fig", "eq", "vol", "ch", "sec", "dept", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr",
        "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat",
        "sun", "gen", "gov", "sen", "rep", "rev", "capt", "col", "lt", "sgt", "cf", "al", "min", "max", "est",
    ]
    /// Abbreviations that also commonly end a sentence: they end one only before a capital letter.
    static let sentenceFinalAbbreviations: Set<String> = ["etc", "inc", "ltd", "co", "corp", "al", "min", "max", "est"]

    /// Adds streamed text; returns the chunks completed by it (often none).
    public mutating func append(_ text: String) -> [String] {
        pending.append(contentsOf: text)
        return cut(final: false)
    }

    /// The stream has ended: returns the remaining chunks.
    public mutating func finish() -> [String] {
        var out = cut(final: true)
        let rest = String(pending).trimmingWhitespace
        if !rest.isEmpty { out.append(rest) }
        pending.removeAll(); quoteOpenAtStart = false; chunksEmitted = 0
        return out
    }

    private mutating func cut(final: Bool) -> [String] {
        var out: [String] = []
        while let end = nextBoundary(final: final) {
            let chunk = String(pending[0..<end]).trimmingWhitespace
            quoteOpenAtStart = quoteState(upTo: end)
            pending.removeFirst(end)
            if !chunk.isEmpty { out.append(chunk); chunksEmitted += 1 }
        }
        return out
    }

    /// Whether a double quote is open after pending[0..<end].
    private func quoteState(upTo end: Int) -> Bool {
        var open = quoteOpenAtStart
        for i in 0..<end {
            switch pending[i] {
            case "\"": open.toggle()
            case "“": open = true
            case "”": open = false
            default: break
            }
        }
        return open
    }

    /// Index just past the first boundary in `pending`, or nil if none is certain yet.
    private func nextBoundary(final: Bool) -> Int? {
        let c = pending
        let n = c.count
        var inQuote = quoteOpenAtStart
        var parens = 0
        var lastSpace = -1
        var letters = 0
        let clauseMin = chunksEmitted == 0 ? parameters.firstClauseMinLength : parameters.clauseMinLength
        var i = 0
        while i < n {
            let ch = c[i]
            switch ch {
            case "\"": inQuote.toggle()
            case "“": inQuote = true
            case "”": inQuote = false
            case "(", "[": parens += 1
            case ")", "]": parens = max(0, parens - 1)
            default: break
            }
            if ch.isWhitespace { lastSpace = i } else { letters += 1 }
            if chunksEmitted == 0 && ch == " " && i >= min(parameters.firstPhraseMinLength, parameters.firstConjunctionMinLength)
                && !inQuote && parens == 0 && i > 0 && c[i - 1].isLetter, let (end, conjunction) = phraseWordEnd(after: i),
                end < n, !c[end].isLetter, i >= (conjunction ? parameters.firstConjunctionMinLength : parameters.firstPhraseMinLength) {
                return i + 1                          // "Sleeping better can help reduce stress | and improve your mood."
            }

            if ch == "\n" {
                if letters > 0 { return i + 1 }
            } else if ch == "(" && parens == 1 && !inQuote && i > 0 && c[i - 1].isWhitespace && i >= clauseMin {
                return i                              // before a parenthesis: "Water boils at 100 degrees Celsius | (212°F)."
            } else if ch == "." || ch == "!" || ch == "?" {
                // Run of terminal punctuation and closing quotes/brackets: "?!", ".\"", ".)".
                var j = i + 1
                var closesQuote = inQuote, closes = parens
                var ellipsis = false
                while j < n {
                    let d = c[j]
                    if d == "." { ellipsis = ellipsis || ch == "."; j += 1 }
                    else if d == "!" || d == "?" { j += 1 }
                    else if d == "\"" && closesQuote { closesQuote = false; j += 1 }
                    else if d == "”" || d == "’" || d == "'" { closesQuote = false; j += 1 }
                    else if (d == ")" || d == "]") && closes > 0 { closes -= 1; j += 1 }
                    else { break }
                }
                if ch == "." && i > 0 && c[i - 1] == "." { ellipsis = true }
                if j == n && !final {
                    // The next character decides; but the first chunk does not wait a token for it after a plain
                    // word ("France.", "What?"): that ends a sentence whatever follows, except a file name or domain,
                    // whose dot tokenizers keep with the extension (".com", ".py"), so it does not arrive alone.
                    if chunksEmitted == 0 && j == i + 1 && !ellipsis && !inQuote && parens == 0 && endsSentenceAlone(i) { return j }
                    return nil
                }
                let atEnd = j == n
                if !atEnd && !c[j].isWhitespace { i += 1; continue }   // 3.5, e.g.x, example.com
                if ellipsis || closesQuote || closes > 0 { i += 1; continue }
                if ch == "." {
                    let word = wordBefore(i)
                    let lower = word.lowercased()
                    let nextLetter = atEnd ? nil : nextNonSpace(after: j)
                    if nextLetter == nil && !atEnd && !final { return nil }
                    let nextIsLower = nextLetter.map { $0.isLowercase } ?? false
                    let nextIsUpper = nextLetter.map { $0.isUppercase } ?? false
                    if nextIsLower { i += 1; continue }
                    if word.count == 1, let f = word.first, f.isLetter, f.isUppercase { i += 1; continue } // initial "J."
                    if lower.contains(".") { i += 1; continue }      // e.g. i.e. U.S.
                    if Self.abbreviations.contains(lower) {
                        if !(Self.sentenceFinalAbbreviations.contains(lower) && (nextIsUpper || atEnd)) { i += 1; continue }
                    }
                    if !word.isEmpty && word.allSatisfy(\.isNumber) && isOnlyWordOnLine(i - word.count) { i += 1; continue } // "1."
                } else {
                    let nextLetter = atEnd ? nil : nextNonSpace(after: j)
                    if nextLetter == nil && !atEnd && !final { return nil }
                    if nextLetter.map({ $0.isLowercase }) ?? false { i += 1; continue }
                }
                return j
            } else if ch == "," || ch == ";" || ch == ":" || ch == "—" || ch == "–" {
                if i + 1 == n { return nil }          // is a space next?
                let spaced = c[i + 1].isWhitespace && (ch != "–" || (i > 0 && c[i - 1].isWhitespace))
                if spaced && !inQuote && parens == 0 && i + 1 >= clauseMin { return i + 1 }
            }
            if i >= parameters.maxLength && lastSpace > 0 { return lastSpace + 1 }
            i += 1
        }
        return nil
    }

    /// Words before which a long first sentence may be cut: a phrase starts there, and speech pauses naturally.
    static let phraseStarters: Set<String> = [
        "and", "but", "or", "so", "because", "which", "who", "where", "when", "while", "that", "with", "without",
        "for", "to", "like", "including", "especially", "although", "though", "since", "until", "unless", "after",
        "before", "during", "such", "than", "by", "from", "whereas",
    ]

    /// Of the phrase starters, those that open a clause or a list's last item wherever they stand.
    static let conjunctions: Set<String> = [
        "and", "but", "or", "because", "which", "who", "while", "although", "though", "unless", "whereas",
    ]

    /// The end index of the word after the space at `i` when it is one of `phraseStarters`, and whether it is a
    /// conjunction (nil otherwise, or when the word may still go on).
    private func phraseWordEnd(after i: Int) -> (Int, Bool)? {
        var k = i + 1
        while k < pending.count && pending[k].isLetter && k - i <= 10 { k += 1 }
        guard k > i + 1, k < pending.count else { return nil }
        let word = String(pending[(i + 1)..<k]).lowercased()
        return Self.phraseStarters.contains(word) ? (k, Self.conjunctions.contains(word)) : nil
    }

    /// Whether the punctuation at `i` ends a sentence without looking further: ! and ?, and a full stop after a word
    /// of two or more letters with a lowercase one that is no abbreviation (not "3.", "J.", "U.S.", "Dr.", "e.").
    private func endsSentenceAlone(_ i: Int) -> Bool {
        guard pending[i] == "." else { return true }
        let word = wordBefore(i)
        return word.count >= 2 && word.allSatisfy(\.isLetter) && word.contains(where: \.isLowercase)
            && !Self.abbreviations.contains(word.lowercased())
    }

    /// The word (run of non-space characters, leading quotes/brackets stripped) ending just before `i`.
    private func wordBefore(_ i: Int) -> String {
        var s = i
        while s > 0 && !pending[s - 1].isWhitespace { s -= 1 }
        var w = Substring(String(pending[s..<i]))
        while let f = w.first, "\"“'‘([".contains(f) { w = w.dropFirst() }
        return String(w)
    }

    private func nextNonSpace(after j: Int) -> Character? {
        var k = j
        while k < pending.count && pending[k].isWhitespace { k += 1 }
        return k < pending.count ? pending[k] : nil
    }

    /// Nothing but white space between the start of the line (or chunk) and `start`.
    private func isOnlyWordOnLine(_ start: Int) -> Bool {
        var k = start - 1
        while k >= 0 {
            if pending[k] == "\n" { return true }
            if !pending[k].isWhitespace { return false }
            k -= 1
        }
        return true
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
