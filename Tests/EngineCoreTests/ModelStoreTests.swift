import XCTest
@testable import Engine

final class ModelStoreTests: XCTestCase {
    func testManifestNamesTheDefaults() throws {
        let m = try ModelManifest.load()
        XCTAssertEqual(m.defaultEntry(.whisper)?.name, "tiny.en")
        XCTAssertEqual(m.defaultEntry(.llm)?.name, "qwen2.5-coder-0.5b")
        XCTAssertEqual(m.defaultEntry(.voice)?.name, "en_US-joe-medium")
        for e in m.models {
            XCTAssertFalse(e.files.isEmpty)
            for f in e.files { XCTAssertEqual(f.sha256.count, 64); XCTAssertFalse(f.parts.isEmpty) }
        }
        XCTAssertEqual(m.entry(named: "qwen2.5-coder-0.5b")?.files.first?.parts.count, 6)
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
