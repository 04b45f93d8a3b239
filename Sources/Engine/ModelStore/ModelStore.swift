import Foundation

/// Where models live: `$CONFAB_MODELS`, default `${XDG_DATA_HOME:-$HOME/.local/share}/confab/models`,
/// one folder per model name. Nothing is ever downloaded at run time; `confab models install` fetches.
public struct ModelStore: Sendable {
    public let root: URL
    public let manifest: ModelManifest

    public init(root: URL? = nil, manifest: ModelManifest? = nil) throws {
        self.root = root ?? ModelStore.defaultRoot()
        self.manifest = try manifest ?? ModelManifest.load()
    }

    public static func defaultRoot() -> URL {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["CONFAB_MODELS"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        let data = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.local/share")
        return URL(fileURLWithPath: data).appendingPathComponent("confab/models")
    }

    public func directory(of name: String) -> URL { root.appendingPathComponent(name) }

    /// Installed means every file is present with the pinned size (a cheap check; `verify` hashes).
    public func isInstalled(_ entry: ModelManifest.Entry) -> Bool {
        entry.files.allSatisfy { f in
            let p = directory(of: entry.name).appendingPathComponent(f.name).path
            let size = (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? nil
            return size == f.size
        }
    }

    /// Resolves a `--model`/`--voice` argument: an existing path is used as it is; otherwise a
    /// model name of the given kind (nil: the default one) must be installed in the store.
    /// Returns the model's main file (for Whisper: its directory).
    public func resolve(_ nameOrPath: String?, kind: ModelManifest.Kind) throws -> URL {
        if let arg = nameOrPath, arg.contains("/") || FileManager.default.fileExists(atPath: arg) {
            let url = URL(fileURLWithPath: (arg as NSString).expandingTildeInPath)
            guard FileManager.default.fileExists(atPath: url.path) else { throw ModelStoreError.noSuchPath(url.path) }
            return url
        }
        let entry: ModelManifest.Entry
        if let name = nameOrPath {
            guard let e = manifest.entry(named: name), e.kind == kind else {
                let names = manifest.models.filter { $0.kind == kind }.map(\.name).joined(separator: ", ")
                throw ModelStoreError.unknownModel(name, known: names)
            }
            entry = e
        } else if kind == .llm, let choice = DefaultLanguageModel.choose(manifest: manifest, memory: .current(), installed: isInstalled),
                  let e = manifest.entry(named: choice.name) {
            entry = e      // the default, or its fallback where the machine cannot hold it comfortably
        } else {
            guard let e = manifest.defaultEntry(kind) else { throw ModelStoreError.unknownModel("default \(kind.rawValue)", known: "") }
            entry = e
        }
        guard isInstalled(entry) else { throw ModelStoreError.notInstalled(entry.name, root.path) }
        let dir = directory(of: entry.name)
        return kind == .whisper ? dir : dir.appendingPathComponent(entry.main)
    }
}

public enum ModelStoreError: Error, CustomStringConvertible {
    case notInstalled(String, String)
    case unknownModel(String, known: String)
    case noSuchPath(String)
    case badManifest(String, String)
    case installFailed(String, String)
    case checksum(String, expected: String, got: String)

    public var description: String {
        switch self {
        case .notInstalled(let n, let root):
            return "model '\(n)' is not installed in \(root): run `confab models install \(n)`"
        case .unknownModel(let n, let known):
            return "unknown model '\(n)'" + (known.isEmpty ? "" : " (known: \(known); or give a path)")
        case .noSuchPath(let p): return "\(p): no such file or directory"
        case .badManifest(let p, let why): return "model manifest \(p): \(why)"
        case .installFailed(let n, let why): return "installing \(n) failed: \(why)"
        case .checksum(let f, let e, let g):
            return "\(f): sha256 mismatch (expected \(e.prefix(12))…, got \(g.prefix(12))…): run `confab models install --force` for it"
        }
    }
}
