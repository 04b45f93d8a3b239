import Foundation

/// A CTranslate2 Whisper directory's `config.json`: the token ids decoding suppresses
/// (`suppress_ids`, and `suppress_ids_begin` at the first step). Ids outside the vocabulary are ignored where used.
public struct WhisperConfigFile: Sendable, Equatable {
    public var suppressIDs: [Int]?
    public var suppressIDsBegin: [Int]?

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(path: path, problem: "missing or unreadable (the model directory needs config.json)")
        }
        try self.init(data: data, path: path)
    }

    /// `config.json`'s bytes; `path` names the file in errors.
    public init(data: Data, path: String) throws {
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelFileError(path: path, problem: "not valid JSON")
        }
        func ids(_ key: String) throws -> [Int]? {
            guard let v = json[key], !(v is NSNull) else { return nil }
            guard let list = v as? [Any] else { throw ModelFileError(path: path, problem: "\(key) is not a list of token ids") }
            return try list.map {
                // Whole numbers only; a double such as 1e300 would not convert.
                guard let n = $0 as? NSNumber, let i = Int32(exactly: n.doubleValue) else {
                    throw ModelFileError(path: path, problem: "\(key) holds \($0), not a token id")
                }
                return Int(i)
            }
        }
        suppressIDs = try ids("suppress_ids")
        suppressIDsBegin = try ids("suppress_ids_begin")
    }
}
