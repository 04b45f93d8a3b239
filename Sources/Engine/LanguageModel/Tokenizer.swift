import Foundation

/// Byte-level BPE tokenizer read from GGUF metadata (tokenizer.ggml.model "gpt2"): the pre-tokenizer regexes
/// llama.cpp uses for each `tokenizer.ggml.pre`, merges applied by rank, control and user-defined tokens matched
/// before BPE. Every byte has a token, so encode → decode gives back any UTF-8 text exactly.
public final class Tokenizer: @unchecked Sendable {
    public enum TokenType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    public let tokens: [String]
    public let types: [Int]
    public let pre: String
    let tokenIds: [String: Int32]
    let mergeRanks: [String: Int]            // "left right" → rank
    let specials: [(text: String, id: Int32, control: Bool)]   // longest first
    let regexes: [Regex<AnyRegexOutput>]
    public let bosId: Int32?
    public let eosId: Int32?
    public let addBos: Bool
    /// Tokens that end a turn: eos, eot and the usual end markers found by name.
    public let endOfGeneration: Set<Int32>

    // GPT-2's byte ↔ printable character mapping.
    static let byteToChar: [Character] = {
        var bs: [Int] = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) { bs.append(b); cs.append(256 + n); n += 1 }
        var table = [Character](repeating: " ", count: 256)
        for (b, c) in zip(bs, cs) { table[b] = Character(Unicode.Scalar(UInt32(c))!) }
        return table
    }()
    static let charToByte: [Unicode.Scalar: UInt8] = {
        var m: [Unicode.Scalar: UInt8] = [:]
        for (b, c) in byteToChar.enumerated() { m[c.unicodeScalars.first!] = UInt8(b) }
        return m
    }()

    public convenience init(gguf: GGUFFile) throws {
        let path = gguf.path
        let model = gguf.metadata["tokenizer.ggml.model"]?.string ?? "?"
        guard model == "gpt2" else {
            throw ModelFileError(path: path, problem: "unsupported tokenizer '\(model)' (Confab reads byte-level BPE, 'gpt2')")
        }
        guard case .strings(let toks)? = gguf.metadata["tokenizer.ggml.tokens"] else {
            throw ModelFileError(path: path, problem: "missing tokenizer.ggml.tokens")
        }
        var types = [Int](repeating: 1, count: toks.count)
        if case .ints(let t)? = gguf.metadata["tokenizer.ggml.token_type"] {
            guard t.count == toks.count else { throw ModelFileError(path: path, problem: "token_type has \(t.count) entries for \(toks.count) tokens") }
            types = t.map { Int($0) }
        }
        var merges: [String] = []
        if case .strings(let m)? = gguf.metadata["tokenizer.ggml.merges"] { merges = m }
        func id(_ key: String) -> Int32? {
            guard let v = gguf.metadata[key]?.int, v >= 0, v < toks.count else { return nil }
            return Int32(v)
        }
        try self.init(tokens: toks, types: types, merges: merges, pre: gguf.metadata["tokenizer.ggml.pre"]?.string ?? "gpt2",
                      bos: id("tokenizer.ggml.bos_token_id"), eos: id("tokenizer.ggml.eos_token_id"),
                      eot: id("tokenizer.ggml.eot_token_id"),
                      addBos: gguf.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false, path: path)
    }

    public init(tokens: [String], types: [Int], merges: [String], pre: String, bos: Int32?, eos: Int32?, eot: Int32? = nil,
                addBos: Bool = false, path: String = "tokenizer") throws {
        self.tokens = tokens
        self.types = types
        self.pre = pre
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        tokenIds = ids
        var ranks: [String: Int] = [:]
        ranks.reserveCapacity(merges.count)
        for (i, m) in merges.enumerated() where ranks[m] == nil { ranks[m] = i }
        mergeRanks = ranks
        var sp: [(String, Int32, Bool)] = []
        for (i, t) in tokens.enumerated() where !t.isEmpty {
            if types[i] == TokenType.control.rawValue { sp.append((t, Int32(i), true)) }
            else if types[i] == TokenType.userDefined.rawValue { sp.append((t, Int32(i), false)) }
        }
        specials = sp.sorted { $0.0.utf8.count > $1.0.utf8.count }.map { (text: $0.0, id: $0.1, control: $0.2) }
        bosId = bos; eosId = eos; self.addBos = addBos
        var eog = Set<Int32>()
        if let eos { eog.insert(eos) }
        if let eot { eog.insert(eot) }
        for name in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "</s>", "<end_of_turn>"] {
            if let i = ids[name], types[Int(i)] == TokenType.control.rawValue || i == eos { eog.insert(i) }
        }
        endOfGeneration = eog
        regexes = try Tokenizer.preTokenizer(pre, path: path)
    }

    /// The split regexes llama.cpp applies (llama-vocab.cpp), in order; later ones split the pieces of earlier ones.
    static func preTokenizer(_ pre: String, path: String) throws -> [Regex<AnyRegexOutput>] {
        let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
        let contractions = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"#
        let patterns: [String]
        switch pre {
        case "llama-bpe", "llama3", "llama-v3", "falcon3", "pixtral":
            patterns = [contractions + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case "qwen2", "deepseek-r1-qwen":
            patterns = [contractions + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case "smollm", "codeshell", "starcoder", "refact", "command-r", "exaone", "minerva-7b":
            patterns = [#"\p{N}"#, gpt2]
        default:
            patterns = [gpt2]
        }
        return try patterns.map { p in
            do { return try Regex(p).matchingSemantics(.unicodeScalar) }
            catch { throw ModelFileError(path: path, problem: "pre-tokenizer regex does not compile: \(error)") }
        }
    }

    public var vocabSize: Int { tokens.count }

    public func id(of text: String) -> Int32? { tokenIds[text] }

    // MARK: encoding

    /// Token ids of `text`. `parseSpecial`: control tokens written in the text (e.g. "<|im_start|>") become their ids;
    /// off for user content, so a user cannot inject turn markers. User-defined tokens always match, as in llama.cpp.
    public func encode(_ text: String, addBos: Bool = false, parseSpecial: Bool = false) -> [Int32] {
        var out: [Int32] = []
        if addBos, let b = bosId { out.append(b) }
        for frag in partition(text, parseSpecial: parseSpecial) {
            switch frag {
            case .token(let id): out.append(id)
            case .text(let s): encodePlain(s, into: &out)
            }
        }
        return out
    }

    enum Fragment { case text(String), token(Int32) }

    /// Splits text on special tokens, longest first (llama.cpp's tokenizer_st_partition).
    func partition(_ text: String, parseSpecial: Bool) -> [Fragment] {
        var frags: [Fragment] = [.text(text)]
        for sp in specials where parseSpecial || !sp.control {
            var next: [Fragment] = []
            for f in frags {
                guard case .text(let s) = f, s.utf8.count >= sp.text.utf8.count else { next.append(f); continue }
                var rest = Substring(s)
                while let r = rest.range(of: sp.text, options: .literal) {
                    if r.lowerBound > rest.startIndex { next.append(.text(String(rest[rest.startIndex..<r.lowerBound]))) }
                    next.append(.token(sp.id))
                    rest = rest[r.upperBound...]
                }
                if !rest.isEmpty { next.append(.text(String(rest))) }
            }
            frags = next
        }
        return frags
    }

    /// Pre-tokenizer pieces of `text` (the strings BPE runs on).
    public func pretokenize(_ text: String) -> [String] {
        var pieces = [text]
        for re in regexes {
            var next: [String] = []
            for p in pieces {
                let scalars = p.unicodeScalars
                var last = scalars.startIndex
                for m in p.matches(of: re) where !m.range.isEmpty {
                    if m.range.lowerBound > last { next.append(String(String.UnicodeScalarView(scalars[last..<m.range.lowerBound]))) }
                    next.append(String(String.UnicodeScalarView(scalars[m.range])))
                    last = m.range.upperBound
                }
                if last < scalars.endIndex { next.append(String(String.UnicodeScalarView(scalars[last...]))) }
            }
            pieces = next
        }
        return pieces
    }

    private func encodePlain(_ text: String, into out: inout [Int32]) {
        for piece in pretokenize(text) { bpe(piece, into: &out) }
    }

    /// Byte-level BPE on one piece: map bytes to GPT-2 characters, merge the lowest-ranked adjacent pair until none is left.
    private func bpe(_ piece: String, into out: inout [Int32]) {
        var syms: [String] = piece.utf8.map { String(Tokenizer.byteToChar[Int($0)]) }
        if syms.isEmpty { return }
        while syms.count > 1 {
            var best = Int.max, at = -1
            for i in 0..<(syms.count - 1) {
                if let r = mergeRanks[syms[i] + " " + syms[i + 1]], r < best { best = r; at = i }
            }
            if at < 0 { break }
            // Merge every occurrence of this pair, left to right (as the reference does for equal ranks).
            let l = syms[at], r = syms[at + 1]
            var merged: [String] = []
            merged.reserveCapacity(syms.count)
            var i = 0
            while i < syms.count {
                if i < syms.count - 1, syms[i] == l, syms[i + 1] == r { merged.append(l + r); i += 2 }
                else { merged.append(syms[i]); i += 1 }
            }
            syms = merged
        }
        for s in syms {
            if let id = tokenIds[s] { out.append(id); continue }
            // No token for a merged symbol cannot happen with a consistent vocabulary; fall back to single bytes.
            for ch in s.unicodeScalars {
                if let id = tokenIds[String(ch)] { out.append(id) }
            }
        }
    }

    // MARK: decoding

    /// The bytes token `id` stands for. Control tokens give their text only when `special` is true.
    public func bytes(of id: Int32, special: Bool = false) -> [UInt8] {
        guard id >= 0, Int(id) < tokens.count else { return [] }
        let t = tokens[Int(id)]
        switch types[Int(id)] {
        case TokenType.control.rawValue, TokenType.unknown.rawValue, TokenType.unused.rawValue:
            return special ? Array(t.utf8) : []
        case TokenType.userDefined.rawValue:
            return Array(t.utf8)
        default:
            var b: [UInt8] = []
            b.reserveCapacity(t.utf8.count)
            for s in t.unicodeScalars {
                if let v = Tokenizer.charToByte[s] { b.append(v) } else { b.append(contentsOf: String(s).utf8) }
            }
            return b
        }
    }

    public func decode(_ ids: [Int32], special: Bool = false) -> String {
        var b: [UInt8] = []
        for id in ids { b.append(contentsOf: bytes(of: id, special: special)) }
        return String(decoding: b, as: UTF8.self)
    }
}

/// Turns a stream of tokens into text pieces that never split a UTF-8 character: bytes of an
/// incomplete character wait for the next token.
public struct StreamingDecoder {
    let tokenizer: Tokenizer
    var pending: [UInt8] = []
    public init(_ tokenizer: Tokenizer) { self.tokenizer = tokenizer }

    /// The text that is complete after adding `id` (possibly empty).
    public mutating func push(_ id: Int32) -> String {
        pending.append(contentsOf: tokenizer.bytes(of: id))
        let n = completePrefix(pending)
        guard n > 0 else { return "" }
        let s = String(decoding: pending[0..<n], as: UTF8.self)
        pending.removeFirst(n)
        return s
    }

    /// Whatever is left at the end (an invalid tail becomes U+FFFD).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a multi-byte character.
    func completePrefix(_ b: [UInt8]) -> Int {
        var i = b.count - 1
        var back = 0
        // Walk back over at most 3 continuation bytes to the lead byte of the last character.
        while i >= 0, back < 4, b[i] & 0xC0 == 0x80 { i -= 1; back += 1 }
        if i < 0 { return b.count > 3 ? b.count : 0 }
        let lead = b[i]
        let need: Int
        if lead < 0x80 { need = 1 } else if lead & 0xE0 == 0xC0 { need = 2 } else if lead & 0xF0 == 0xE0 { need = 3 }
        else if lead & 0xF8 == 0xF0 { need = 4 } else { need = 1 }   // invalid lead: let it through as U+FFFD
        let have = b.count - i
        return have >= need ? b.count : i
    }
}
