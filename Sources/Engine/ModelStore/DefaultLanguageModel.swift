import Foundation

/// The machine's memory as Linux reports it (`/proc/meminfo`), in bytes.
public struct MachineMemory: Sendable, Equatable {
    public var total: Int
    public var available: Int
    public init(total: Int, available: Int) { self.total = total; self.available = available }

    /// `CONFAB_MEMORY_AVAILABLE` (bytes, or with a K/M/G suffix) stands in for MemAvailable: to see what Confab
    /// chooses on a smaller machine.
    public static func current() -> MachineMemory {
        var total = 0, available = 0
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let f = line.split(whereSeparator: { $0 == " " || $0 == ":" })
                guard f.count >= 2, let kb = Int(f[1]) else { continue }
                if f[0] == "MemTotal" { total = kb * 1024 }
                if f[0] == "MemAvailable" { available = kb * 1024 }
            }
        }
        if let v = ProcessInfo.processInfo.environment["CONFAB_MEMORY_AVAILABLE"], let b = parseBytes(v) {
            available = b; total = max(total, b)
        }
        return MachineMemory(total: total, available: available)
    }

    static func parseBytes(_ s: String) -> Int? {
        let t = s.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Double)] = [("G", 1e9), ("M", 1e6), ("K", 1e3)]
        for (u, k) in units where t.hasSuffix(u) { return Double(t.dropLast()).map { Int($0 * k) } }
        return Int(t)
    }
}

/// Which language model `--llm` means when it is not given, and why: the manifest's default, unless the machine
/// cannot hold it comfortably (or it is not installed while its fallback is), then the default's fallback.
/// One source of truth for every command, its `--help`, the front end's header and `confab models`.
public struct DefaultLanguageModel: Sendable, Equatable {
    public var name: String
    /// One line: why this model.
    public var reason: String
    /// The manifest's default did not fit (or is missing) and its fallback was chosen.
    public var isFallback: Bool

    /// Comfortable: the pipeline's need plus half again for everything else the user runs.
    public static let headroom = 1.5

    public static func choose(manifest: ModelManifest, memory: MachineMemory,
                              installed: (ModelManifest.Entry) -> Bool) -> DefaultLanguageModel? {
        guard let best = manifest.defaultEntry(.llm) else { return nil }
        guard let need = best.memory, let fbName = best.fallback, let fb = manifest.entry(named: fbName) else {
            return DefaultLanguageModel(name: best.name, reason: "the default", isFallback: false)
        }
        let wanted = Int(Double(need) * headroom)
        if memory.available > 0 && memory.available < wanted {
            return DefaultLanguageModel(
                name: fb.name,
                reason: "\(best.name) needs about \(formatGB(wanted)) of free memory to run comfortably and this machine has "
                    + "\(formatGB(memory.available)) available; \(fb.name) answers less well but fits (--llm \(best.name) to insist)",
                isFallback: true)
        }
        if !installed(best) && installed(fb) {
            return DefaultLanguageModel(
                name: fb.name,
                reason: "\(best.name), the default, is not installed (`confab models install \(best.name)`); using \(fb.name)",
                isFallback: true)
        }
        let free = memory.available > 0 ? "\(formatGB(memory.available)) of memory available" : "memory unknown"
        return DefaultLanguageModel(name: best.name, reason: "the best answers; fits this machine (\(free), needs about \(formatGB(need)))",
                                    isFallback: false)
    }

    /// For this machine and its model store.
    public static func current(store: ModelStore? = nil) -> DefaultLanguageModel? {
        guard let store = store ?? (try? ModelStore()) else { return nil }
        return choose(manifest: store.manifest, memory: .current(), installed: store.isInstalled)
    }

    /// The name, or the manifest's default when the store cannot be read (the error comes when the model loads).
    public static var currentName: String {
        current()?.name ?? (try? ModelManifest.load().defaultEntry(.llm)?.name) ?? "qwen2.5-coder-1.5b"
    }

    /// For `--help` texts: "qwen2.5-coder-1.5b" or "qwen2.5-coder-0.5b (…why…)".
    public static var helpText: String {
        guard let c = current() else { return currentName }
        return c.isFallback ? "\(c.name) (\(c.reason))" : c.name
    }
}

private func formatGB(_ n: Int) -> String { String(format: "%.1f GB", Double(n) / 1e9) }

extension DefaultLanguageModel {
    /// The default's name, with a line on stderr when it is the fallback (for the commands without a screen).
    public static func announced() -> String {
        guard let c = current() else { return currentName }
        if c.isFallback { FileHandle.standardError.write(Data("confab: language model \(c.name): \(c.reason)\n".utf8)) }
        return c.name
    }
}
