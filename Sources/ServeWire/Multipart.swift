import Foundation

/// multipart/form-data (RFC 7578), parsed from a body already read whole (and size-checked) into memory.
/// Every length is checked: a boundary of at most 70 bytes, at most `maxParts` parts, at most
/// `maxHeaderBytes` of headers per part.
public struct MultipartForm: Sendable {
    public struct Part: Sendable {
        public var name: String
        public var filename: String?
        public var contentType: String?
        public var data: [UInt8]
        public var text: String { String(decoding: data, as: UTF8.self) }
    }
    public var parts: [Part]

    public func part(_ name: String) -> Part? { parts.first { $0.name == name } }
    public func field(_ name: String) -> String? { part(name).map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) } }

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ d: String) { description = "malformed multipart body: " + d }
    }

    public static let maxParts = 64
    public static let maxHeaderBytes = 16 * 1024

    /// The boundary from a `Content-Type: multipart/form-data; boundary=…` header, or nil when the type is another.
    public static func boundary(contentType: String) throws -> String? {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = pieces.first, type.lowercased() == "multipart/form-data" else { return nil }
        for p in pieces.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            var b = kv[1].trimmingCharacters(in: .whitespaces)
            if b.hasPrefix("\""), b.hasSuffix("\""), b.count >= 2 { b = String(b.dropFirst().dropLast()) }
            guard !b.isEmpty, b.utf8.count <= 70 else { throw ParseError("the boundary must be 1 to 70 characters") }
            return b
        }
        throw ParseError("Content-Type multipart/form-data has no boundary")
    }

    public init(parts: [Part]) { self.parts = parts }

    public init(body: [UInt8], boundary: String) throws {
        let dash = Array("--\(boundary)".utf8)
        let crlfDash = Array("\r\n--\(boundary)".utf8)
        var parts: [Part] = []
        // The first delimiter: at the very start, or after a preamble line.
        guard var pos = Self.find(dash, in: body, from: 0) else { throw ParseError("no boundary line (expected --\(boundary))") }
        pos += dash.count
        while true {
            // After a delimiter: "--" closes the body; otherwise optional whitespace and CRLF open a part.
            if pos + 2 <= body.count, body[pos] == 0x2D, body[pos + 1] == 0x2D { break }
            while pos < body.count, body[pos] == 0x20 || body[pos] == 0x09 { pos += 1 }
            guard pos + 2 <= body.count, body[pos] == 0x0D, body[pos + 1] == 0x0A else {
                throw ParseError(pos >= body.count ? "the body ends without a closing boundary" : "a boundary line is not followed by CRLF")
            }
            pos += 2
            guard parts.count < Self.maxParts else { throw ParseError("more than \(Self.maxParts) parts") }
            // Headers up to the blank line.
            let headerEnd = Self.find([0x0D, 0x0A, 0x0D, 0x0A], in: body, from: pos, limit: Self.maxHeaderBytes + 4)
            let blankFirst = pos + 2 <= body.count && body[pos] == 0x0D && body[pos + 1] == 0x0A
            let headerBytes: ArraySlice<UInt8>
            if blankFirst { headerBytes = []; pos += 2 } else {
                guard let h = headerEnd else {
                    throw ParseError(body.count - pos > Self.maxHeaderBytes ? "a part's headers are longer than \(Self.maxHeaderBytes / 1024) KiB" : "a part's headers do not end (no blank line)")
                }
                headerBytes = body[pos..<h]; pos = h + 4
            }
            var part = try Self.headers(headerBytes)
            guard let end = Self.find(crlfDash, in: body, from: pos) else {
                throw ParseError("part '\(part.name)' does not end with a boundary (truncated body?)")
            }
            part.data = Array(body[pos..<end])
            parts.append(part)
            pos = end + crlfDash.count
        }
        self.parts = parts
    }

    private static func headers(_ bytes: ArraySlice<UInt8>) throws -> Part {
        let text = String(decoding: bytes, as: UTF8.self)
        var name: String?, filename: String?, type: String?
        for line in text.components(separatedBy: "\r\n") where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw ParseError("a part header without ':'") }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if key == "content-disposition" {
                for p in value.split(separator: ";").dropFirst() {
                    let kv = p.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard kv.count == 2 else { continue }
                    var v = kv[1]
                    if v.hasPrefix("\""), v.hasSuffix("\""), v.count >= 2 { v = String(v.dropFirst().dropLast()) }
                    switch kv[0].lowercased() { case "name": name = v; case "filename": filename = v; default: break }
                }
            } else if key == "content-type" {
                type = value
            }
        }
        guard let name, !name.isEmpty else { throw ParseError("a part without a Content-Disposition name") }
        return Part(name: name, filename: filename, contentType: type, data: [])
    }

    /// First index of `needle` in `hay` at or after `from` (only starts before `from + limit` when a limit is given).
    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int, limit: Int? = nil) -> Int? {
        guard !needle.isEmpty, from >= 0, hay.count - from >= needle.count else { return nil }
        let end = min(hay.count - needle.count, limit.map { from + $0 } ?? Int.max)
        guard end >= from else { return nil }
        return hay.withUnsafeBufferPointer { h -> Int? in
            needle.withUnsafeBufferPointer { n -> Int? in
                let first = n[0]
                var i = from
                while i <= end {
                    // memchr for the first byte, then compare the rest.
                    guard let p = memchr(h.baseAddress! + i, Int32(first), end - i + 1) else { return nil }
                    let at = h.baseAddress!.distance(to: p.assumingMemoryBound(to: UInt8.self))
                    if memcmp(h.baseAddress! + at, n.baseAddress!, n.count) == 0 { return at }
                    i = at + 1
                }
                return nil
            }
        }
    }
}
