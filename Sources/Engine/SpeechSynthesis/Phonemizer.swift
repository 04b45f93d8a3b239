import CEspeakNG
import Foundation

/// One sentence as Piper sees it: IPA phonemes (one Unicode scalar each, after NFD) and the model's ids.
public struct PhonemizedSentence: Sendable, Equatable, Codable {
    public var phonemes: String
    public var ids: [Int]
    public init(phonemes: String, ids: [Int]) { self.phonemes = phonemes; self.ids = ids }
}

/// Text → IPA with libespeak-ng, following piper1-gpl's phonemize_espeak.py and phoneme_ids.py:
/// clause by clause with espeak_TextToPhonemes, "(lang)" switch flags stripped, the clause's punctuation
/// appended (", " ": " "; " keep a space), sentence-type terminators end a sentence, NFD, code points → ids
/// laid out as ^ _ (p _)* $.
///
/// espeak-ng keeps global state, so every call goes through one lock (calls are per sentence, never in a
/// numeric loop). espeak-ng 1.51 (Debian) has no espeak_TextToPhonemesWithTerminator, so the terminator is
/// recovered from the text the call consumed.
public final class EspeakPhonemizer: @unchecked Sendable {
    public static let shared = EspeakPhonemizer()

    let lock = NSLock()
    private var initialized = false
    /// espeak-ng's output rate (its voices speak at this rate).
    private(set) var sampleRate = 22050
    private var currentVoice: String?

    private init() {}

    func ensureVoice(_ voice: String) throws {
        if !initialized {
            // DONT_EXIT: a missing data directory must become an error, not exit().
            let rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nil, Int32(espeakINITIALIZE_DONT_EXIT))
            guard rate > 0 else { throw PhonemizerError("espeak-ng: cannot initialize (is espeak-ng-data installed?)") }
            initialized = true
            sampleRate = Int(rate)
        }
        if currentVoice != voice {
            guard espeak_SetVoiceByName(voice) == EE_OK else {
                throw PhonemizerError("espeak-ng: unknown voice '\(voice)'")
            }
            currentVoice = voice
        }
    }

    /// Raw IPA sentences exactly as Piper builds them (before ids).
    public func phonemize(_ text: String, voice: String) throws -> [String] {
        lock.lock(); defer { lock.unlock() }
        try ensureVoice(voice)
        var sentences: [String] = []
        var current = ""
        var utf8 = Array(text.utf8)
        utf8.append(0)
        utf8.withUnsafeBufferPointer { buf in
            let base = UnsafeRawPointer(buf.baseAddress!)
            var ptr: UnsafeRawPointer? = base
            while let start = ptr {
                var p: UnsafeRawPointer? = start
                let out = withUnsafeMutablePointer(to: &p) { pp -> UnsafePointer<CChar>? in
                    pp.withMemoryRebound(to: UnsafeRawPointer?.self, capacity: 1) {
                        espeak_TextToPhonemes($0, Int32(espeakCHARS_AUTO), Int32(espeakPHONEMES_IPA))
                    }
                }
                var clause = out.map { String(cString: $0) } ?? ""
                clause = Self.stripLanguageFlags(clause)
                // The consumed bytes [start, p) end with the clause's punctuation (if any).
                // espeak reads one character past the clause (it keeps it for the next clause), so
                // drop that look-ahead character unless the text ended.
                let atEnd = p == nil || (p! - base) >= buf.count - 1
                var end = p.map { min($0 - base, buf.count - 1) } ?? (buf.count - 1)
                if !atEnd && end > start - base {
                    end -= 1
                    while end > start - base && (buf[end] & 0xC0) == 0x80 { end -= 1 }
                }
                let consumed = buf[(start - base)..<max(start - base, end)]
                let (punct, endsSentence) = Self.terminator(of: consumed, atEnd: atEnd)
                current += clause + punct
                if endsSentence {
                    sentences.append(current)
                    current = ""
                }
                ptr = p
                if let q = p, q - base >= buf.count - 1 { ptr = nil }
            }
        }
        if !current.isEmpty { sentences.append(current) }
        return sentences
    }

    /// Piper's sentences with ids.
    public func phonemizeToIds(_ text: String, config: PiperConfig) throws -> [PhonemizedSentence] {
        try phonemize(text, voice: config.espeakVoice).compactMap { s in
            let ids = Self.ids(for: s, config: config)
            return ids.count > 3 ? PhonemizedSentence(phonemes: s, ids: ids) : nil
        }
    }

    /// Code points after NFD → ids: ^ _ then (id _) per known phoneme, then $. Unknown phonemes are skipped.
    public static func ids(for phonemes: String, config: PiperConfig) -> [Int] {
        let map = config.phonemeIdMap
        let pad = map["_"] ?? [0]
        var ids = (map["^"] ?? [1]) + pad
        for scalar in phonemes.decomposedStringWithCanonicalMapping.unicodeScalars {
            var symbols = [String(scalar)]
            if let mapped = config.phonemeMap[symbols[0]] { symbols = mapped }
            for s in symbols {
                guard let id = map[s] else { continue }
                ids += id
                ids += pad
            }
        }
        ids += map["$"] ?? [2]
        return ids
    }

    static func stripLanguageFlags(_ s: String) -> String {
        // \([^)]+\)
        var out = ""
        var depth: String? = nil
        for ch in s {
            if var d = depth {
                if ch == ")" {
                    if d.isEmpty { out += "()" }
                    depth = nil
                } else { d.append(ch); depth = d }
            } else if ch == "(" {
                depth = ""
            } else {
                out.append(ch)
            }
        }
        if let d = depth { out += "(" + d }
        return out
    }

    /// The punctuation Piper appends for the clause espeak just consumed, and whether it ends a sentence.
    static func terminator(of consumed: Slice<UnsafeBufferPointer<UInt8>>, atEnd: Bool) -> (String, Bool) {
        var i = consumed.endIndex
        while i > consumed.startIndex {
            let c = consumed[i - 1]
            if c == 0 || c == 0x20 || c == 0x0A || c == 0x09 || c == 0x0D || c == 0x22 || c == 0x27 || c == 0x29 {
                i -= 1; continue
            }
            break
        }
        guard i > consumed.startIndex else { return ("", atEnd) }
        // An ellipsis ("..." or U+2026 …) continues the sentence with no punctuation, as in Piper.
        if consumed[i - 1] == 0xA6 && i - 3 >= consumed.startIndex && consumed[i - 3] == 0xE2 && consumed[i - 2] == 0x80 {
            return ("", false)
        }
        if consumed[i - 1] == UInt8(ascii: "."), i - 2 >= consumed.startIndex, consumed[i - 2] == UInt8(ascii: ".") {
            return ("", false)
        }
        switch consumed[i - 1] {
        case UInt8(ascii: "."): return (".", true)
        case UInt8(ascii: "?"): return ("?", true)
        case UInt8(ascii: "!"): return ("!", true)
        case UInt8(ascii: ","): return (", ", false)
        case UInt8(ascii: ":"): return (": ", false)
        case UInt8(ascii: ";"): return ("; ", false)
        default:
            // No punctuation (end of text, or a clause espeak cut for length): nothing is appended.
            return ("", atEnd)
        }
    }
}

public struct PhonemizerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
