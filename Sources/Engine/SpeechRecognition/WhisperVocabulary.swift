import Foundation

/// Whisper's vocabulary from `vocabulary.txt` (line index = token id, byte-level BPE form)
/// and the special token ids, found by name so English-only and multilingual models both work.
public struct WhisperVocabulary: Sendable {
    public let tokens: [String]
    /// Each token's raw bytes (byte-level BPE undone); special tokens keep their literal text.
    public let bytes: [[UInt8]]
    public let eot: Int, sot: Int, translate: Int, transcribe: Int, sotLM: Int, sotPrev: Int
    public let noSpeech: Int, noTimestamps: Int, timestampBegin: Int
    /// Language token ids in order, with their codes ("en", "de", …). English-only vocabularies list them too.
    public let languages: [(id: Int, code: String)]
    /// Multilingual models have 51865+ tokens (CTranslate2's is_multilingual); .en models 51864.
    public var isMultilingual: Bool { tokens.count >= 51865 }
    public var count: Int { tokens.count }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(path: path, problem: "missing or unreadable (the model directory needs vocabulary.txt)")
        }
        try self.init(data: data, path: path)
    }

    /// `vocabulary.txt`'s bytes (one token a line); `path` names the file in errors.
    public init(data: Data, path: String) throws {
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        if lines.last == "" { lines.removeLast() }
        try self.init(tokens: lines, path: path)
    }

    public init(tokens: [String], path: String = "vocabulary") throws {
        self.tokens = tokens
        var index: [String: Int] = [:]
        for (i, t) in tokens.enumerated() where t.hasPrefix("<|") { index[t] = i }
        func id(_ s: String) throws -> Int {
            guard let i = index[s] else { throw ModelFileError(path: path, problem: "no \(s) token (not a Whisper vocabulary)") }
            return i
        }
        eot = try id("<|endoftext|>"); sot = try id("<|startoftranscript|>")
        translate = try id("<|translate|>"); transcribe = try id("<|transcribe|>")
        sotLM = try id("<|startoflm|>"); sotPrev = try id("<|startofprev|>")
        noSpeech = try index["<|nospeech|>"] ?? id("<|nocaptions|>")
        noTimestamps = try id("<|notimestamps|>")
        timestampBegin = noTimestamps + 1
        var langs: [(Int, String)] = []
        if sot + 1 < translate {
            for i in (sot + 1)..<translate {
                let t = tokens[i]
                if t.hasPrefix("<|") && t.hasSuffix("|>") { langs.append((i, String(t.dropFirst(2).dropLast(2)))) }
            }
        }
        languages = langs
        let decoder = WhisperVocabulary.byteDecoder
        let eotID = eot
        bytes = tokens.enumerated().map { (i, t) in
            if i >= eotID { return Array(t.utf8) }     // special and timestamp tokens: literal text
            var out: [UInt8] = []
            out.reserveCapacity(t.unicodeScalars.count)
            for u in t.unicodeScalars {
                if let b = decoder[u.value] { out.append(b) } else { out.append(contentsOf: Array(String(u).utf8)) }
            }
            return out
        }
    }

    /// GPT-2's bytes_to_unicode, inverted: the printable stand-in code point → the byte.
    static let byteDecoder: [UInt32: UInt8] = {
        var bs: [Int] = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) { bs.append(b); cs.append(256 + n); n += 1 }
        var d: [UInt32: UInt8] = [:]
        for (b, c) in zip(bs, cs) { d[UInt32(c)] = UInt8(b) }
        return d
    }()

    public func isTimestamp(_ t: Int) -> Bool { t >= timestampBegin }

    /// Text of the tokens. Like faster-whisper, only text tokens (< eot) count unless `special`;
    /// bytes are joined before UTF-8 decoding, so characters split across tokens come out whole.
    public func decode(_ ids: [Int], special: Bool = false) -> String {
        var out: [UInt8] = []
        for t in ids where t >= 0 && t < bytes.count {
            if t < eot { out.append(contentsOf: bytes[t]) } else if special { out.append(contentsOf: bytes[t]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public func languageToken(_ code: String) -> Int? { languages.first { $0.code == code }?.id }
}
