import Foundation

/// A wake phrase ("hey confab") found at the start of a transcript, tolerant of how Whisper spells it.
///
/// Whisper writes a made-up name as it hears it: "Hey, Confab.", "hey confab", "Hey Khan fab", "Hey, conf-ab",
/// "Hey Comfab", "A confab", all in one word or three. The match therefore compares sounds, not letters:
/// - the transcript's words are lower-cased letters and digits (punctuation and hyphens split words);
/// - a few leading fillers ("um", "uh", "oh") are skipped;
/// - for each run of the first 1…(phrase words + 2) words, joined, two keys are compared with the phrase's:
///   a consonant skeleton (vowels dropped, c/k/q/ch/kh → k, ph → f, voiced/voiceless pairs merged: b/p, d/t,
///   g/k, v/f, z/s, m/n, and an h that follows a consonant dropped), which must be within `maxSkeletonEdits`
///   (one edit per 5 skeleton letters, at least 1), and the spelled form with the same substitutions,
///   which must be within `maxSpellingShare` edits per letter (0.4: "He can fly" is 0.44 from "hey confab"); the first consonant may be missing only
///   where a word without consonants stands for it ("A confab"), and replaced only when it is an h ("They
///   confirm", "Pay confirm"; so "The confab was fun" passes too, a rare sentence);
/// - the run that matches with the fewest edits wins, and the words after it are the question.
///
/// Whisper also writes some phrases as other words, consistently: "hey confab" comes out as "Hey confirm" or
/// "Okay, confirm" for most espeak-ng voices (`confab bench wake`). Such spellings are matched too: given after the phrase with "|"
/// ("hey confab|hey confirm"), and for the phrases in `knownMishearings` without being asked.
///
/// Each spelling must have at least two skeleton letters (a phrase like "a" or "hey" alone would be heard in
/// half of all sentences); `init` throws otherwise.
public struct WakePhrase: Sendable, Equatable {
    /// The phrase as configured (the first spelling, for the screen).
    public let phrase: String
    struct Spelling: Sendable, Equatable {
        let skeleton: [UInt8]
        let letters: [UInt8]
        /// Skeleton edits allowed (one per 5 letters of the skeleton, at least 1).
        let maxEdits: Int
    }
    let spellings: [Spelling]
    /// Spelling edits allowed per letter of the phrase.
    public var maxSpellingShare = 0.4

    /// How Whisper tiny.en writes these phrases when it mishears them (measured with `confab bench wake`).
    public static let knownMishearings: [String: [String]] = ["hey confab": ["hey confirm", "okay confirm"]]

    static let fillers: Set<String> = ["um", "uh", "uhm", "erm", "er", "oh", "ah", "hmm", "mm"]

    /// `phrase`: the phrase, optionally followed by other spellings after "|" ("hey confab|hey confirm").
    public init(_ phrase: String) throws {
        var given = phrase.split(separator: "|").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard let first = given.first, !Self.words(of: first).isEmpty else { throw ConversationError("--wake: the wake phrase has no words") }
        let key = Self.words(of: first).map(\.text).joined(separator: " ")
        given += Self.knownMishearings[key] ?? []
        var spellings: [Spelling] = []
        for text in given {
            let joined = Self.words(of: text).map(\.text).joined()
            let skeleton = Self.skeleton(joined)
            guard skeleton.count >= 2 else {
                throw ConversationError("--wake \"\(text)\": too short to tell from ordinary speech (give a phrase like \"hey confab\")")
            }
            spellings.append(Spelling(skeleton: skeleton, letters: Self.spelling(joined), maxEdits: max(1, skeleton.count / 5)))
        }
        self.phrase = first
        self.spellings = spellings
    }

    /// The result of looking for the phrase at the start of a transcript.
    public struct Match: Sendable, Equatable {
        /// The transcript after the phrase (leading punctuation removed, first letter capitalized); empty
        /// when the phrase was all that was said.
        public var rest: String
        /// Edits of the consonant skeleton it took (0: as configured).
        public var edits: Int
    }

    /// The phrase at the start of `text`, or nil when the text does not start with it.
    public func match(_ text: String) -> Match? {
        let found = Self.words(of: text)
        var first = 0
        while first < found.count && first < 2 && Self.fillers.contains(found[first].text) { first += 1 }
        var best: (end: String.Index, edits: Int, spelling: Int)?
        for phrase in spellings {
            var joined = ""
            for k in first..<min(found.count, first + 8) {
                joined += found[k].text
                let s = Self.skeleton(joined)
                // A run already longer than the phrase can be edited back to: stop.
                if s.count > phrase.skeleton.count + phrase.maxEdits { break }
                let e = Self.editDistance(s, phrase.skeleton)
                guard e <= phrase.maxEdits else { continue }
                // The first sound sets the phrase apart from a sentence that merely holds its name ("Okay,
                // confirm…"). It may be missing only where a word without consonants stands for it ("A confab"),
                // and replaced only when it is an h: Whisper hears a breathy "hey" as "they" or "pay" as often as not.
                if s.first != phrase.skeleton.first {
                    let voweled = Self.skeleton(found[first].text).isEmpty
                    let breathy = phrase.skeleton.first == UInt8(ascii: "h") && s.count >= phrase.skeleton.count
                    if !voweled && !breathy { continue }
                }
                let sp = Self.editDistance(Self.spelling(joined), phrase.letters)
                guard Double(sp) <= maxSpellingShare * Double(phrase.letters.count) else { continue }
                if best == nil || e < best!.edits || (e == best!.edits && sp < best!.spelling) {
                    best = (found[k].range.upperBound, e, sp)
                }
            }
        }
        guard let best else { return nil }
        return Match(rest: Self.question(after: best.end, in: text), edits: best.edits)
    }

    /// The words after the phrase: leading punctuation and spaces dropped, the first letter capitalized.
    static func question(after end: String.Index, in text: String) -> String {
        var rest = text[end...].drop { !$0.isLetter && !$0.isNumber }
        rest = rest.drop { $0 == "'" }          // "Hey Confab's" never leaves "s" alone
        guard let head = rest.first else { return "" }
        return (String(head).uppercased() + rest.dropFirst()).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: Keys

    struct Word { var text: String; var range: Range<String.Index> }

    /// Lower-cased runs of letters and digits (an apostrophe inside a word is dropped: "what's" → "whats").
    static func words(of text: String) -> [Word] {
        var out: [Word] = []
        var current = "", start: String.Index?
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c.isLetter || c.isNumber {
                if start == nil { start = i }
                current += c.lowercased()
            } else if c == "'" || c == "’", start != nil {
                // inside a word: skipped
            } else if let s = start {
                out.append(Word(text: current, range: s..<i)); current = ""; start = nil
            }
            i = text.index(after: i)
        }
        if let s = start { out.append(Word(text: current, range: s..<text.endIndex)) }
        return out.map { w in Word(text: w.text.folding(options: .diacriticInsensitive, locale: nil), range: w.range) }
    }

    /// Letters with sound-alike spellings merged (ASCII bytes): ch/kh/ck/c/q → k, ph → f, and the
    /// voiced/voiceless pairs b/p, d/t, g/k, v/f, z/s, m/n → one letter each.
    static func spelling(_ word: String) -> [UInt8] {
        let b = Array(word.utf8)
        var out: [UInt8] = []
        var i = 0
        func at(_ j: Int) -> UInt8 { j < b.count ? b[j] : 0 }
        while i < b.count {
            var c = b[i]
            switch c {
            case UInt8(ascii: "c"), UInt8(ascii: "q"), UInt8(ascii: "g"):
                c = UInt8(ascii: "k")
                if at(i + 1) == UInt8(ascii: "h") || at(i + 1) == UInt8(ascii: "k") { i += 1 }
            case UInt8(ascii: "k"):
                if at(i + 1) == UInt8(ascii: "h") { i += 1 }
            case UInt8(ascii: "p"):
                if at(i + 1) == UInt8(ascii: "h") { c = UInt8(ascii: "f"); i += 1 } else { c = UInt8(ascii: "b") }
            case UInt8(ascii: "d"): c = UInt8(ascii: "t")
            case UInt8(ascii: "v"): c = UInt8(ascii: "f")
            case UInt8(ascii: "z"): c = UInt8(ascii: "s")
            case UInt8(ascii: "m"): c = UInt8(ascii: "n")
            default: break
            }
            // Doubled letters sound once.
            if out.last != c { out.append(c) }
            i += 1
        }
        return out
    }

    static let vowels: Set<UInt8> = Set("aeiouy".utf8)

    /// The consonants of `spelling(word)`, with an h after a consonant or at the end dropped
    /// ("khan" → "kn", "hey" → "h").
    static func skeleton(_ word: String) -> [UInt8] {
        var out: [UInt8] = []
        for c in spelling(word) where !vowels.contains(c) {
            if c == UInt8(ascii: "h"), !out.isEmpty { continue }
            if out.last != c { out.append(c) }
        }
        return out
    }

    /// Levenshtein distance.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count), current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

/// Which hands-free utterances are for Confab when a wake phrase is set: one that starts with the phrase (the
/// phrase is taken off), or one whose speech began inside the follow-up window after a reply. Positions are
/// capture sample indices, so the window runs on the capture timeline (a file read faster than real time, or
/// paused while a reply plays, keeps its own time). Guarded by the conversation's lock.
struct WakeGate {
    let phrase: WakePhrase
    let windowSamples: Int
    /// Speech that begins at or before this capture position needs no phrase (nil: no window yet).
    private(set) var followUpUntil: Int?
    /// What the screen was last told.
    private(set) var shown: WakeState?

    init(phrase: WakePhrase, window: Double, sampleRate: Int) {
        self.phrase = phrase
        windowSamples = max(0, Int(window * Double(sampleRate)))
    }

    enum Decision: Equatable {
        /// The phrase began the utterance; `rest` is the question (empty: the phrase alone).
        case phrase(rest: String)
        /// No phrase, but the speech began inside the follow-up window.
        case followUp
        case notAddressed
    }

    func decide(_ text: String, speechStartedAt: Int?) -> Decision {
        if let m = phrase.match(text) { return .phrase(rest: m.rest) }
        if let start = speechStartedAt, let until = followUpUntil, start <= until { return .followUp }
        return .notAddressed
    }

    /// A reply ended (or the phrase was said alone) at `position`: the window opens from there.
    mutating func open(at position: Int) -> WakeState? {
        followUpUntil = position + windowSamples
        return show(windowSamples > 0 ? .followUp : .waitingForPhrase(phrase.phrase))
    }

    /// Per capture frame: once the window has passed and nothing is going on, the screen goes back to
    /// waiting for the phrase. (The window itself is kept: speech that began inside it still counts.)
    mutating func tick(position: Int, idle: Bool) -> WakeState? {
        guard idle, shown != .waitingForPhrase(phrase.phrase) else { return nil }
        if let until = followUpUntil, position <= until { return nil }
        return show(.waitingForPhrase(phrase.phrase))
    }

    /// The conversation was cleared: the next question needs the phrase.
    mutating func close() -> WakeState? {
        followUpUntil = nil
        return show(.waitingForPhrase(phrase.phrase))
    }

    private mutating func show(_ s: WakeState) -> WakeState? {
        guard shown != s else { return nil }
        shown = s
        return s
    }
}
