import Foundation
import XCTest
@testable import Engine

/// A mapped model file changed under a running model: `changeOnDisk` says how, and a read of a page that truncation
/// took away (SIGBUS) ends the process with one line naming the file instead of a crash.
final class MappedFileGuardTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("confab-mapped-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// 64 KiB of a known pattern.
    func makeFile(_ name: String) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try Data((0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testChangeOnDiskTellsTruncatedOverwrittenReplacedAndRemovedApart() throws {
        let path = try makeFile("model.bin")
        let file = try MappedFile(path: path)
        XCTAssertNil(file.changeOnDisk(), "unchanged")
        XCTAssertEqual(file.bytes[1000], UInt8(truncatingIfNeeded: 7000))

        // Truncated in place (what `cp new old` does first, or `truncate`).
        XCTAssertEqual(truncate(path, 16384), 0)
        let truncated = try XCTUnwrap(file.changeOnDisk())
        XCTAssertEqual(truncated.path, path)
        XCTAssertTrue(truncated.problem.contains("truncated while in use (16384 of 65536 bytes left)"), truncated.description)

        // Written back to its old size in place: overwritten (the weights under the model changed).
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        h.seekToEndOfFile()
        h.write(Data(count: 65536 - 16384))
        h.closeFile()
        XCTAssertTrue(try XCTUnwrap(file.changeOnDisk()).problem.contains("overwritten while in use"))

        // A new file renamed over the path leaves the mapped one intact: said, but as harmless.
        let other = try MappedFile(path: try makeFile("other.bin"))
        let replacement = try makeFile("new.bin")
        XCTAssertEqual(rename(replacement, other.path), 0)
        let replaced = try XCTUnwrap(other.changeOnDisk())
        XCTAssertTrue(replaced.problem.contains("replaced while in use (the loaded copy goes on working"), replaced.description)
        XCTAssertEqual(other.bytes[1000], UInt8(truncatingIfNeeded: 7000), "the mapped copy still reads")

        XCTAssertEqual(unlink(other.path), 0)
        XCTAssertTrue(try XCTUnwrap(other.changeOnDisk()).problem.contains("removed while in use"))
    }

    func testTheGuardKnowsWhichFileAnAddressBelongsTo() throws {
        let path = try makeFile("weights.gguf")
        var file: MappedFile? = try MappedFile(path: path)
        let base = try XCTUnwrap(file?.base)
        XCTAssertEqual(MappedFileGuard.path(containing: base), path)
        XCTAssertEqual(MappedFileGuard.path(containing: base + 65535), path)
        XCTAssertNil(MappedFileGuard.path(containing: base + 65536))
        let copy = try MappedFile(copying: UnsafeRawBufferPointer(start: base, count: 100), path: "copy")
        XCTAssertNil(MappedFileGuard.path(containing: copy.base), "a copy in memory cannot fault")
        file = nil
        XCTAssertNil(MappedFileGuard.path(containing: base), "unmapped: forgotten")
    }

    /// The real fault, in a child process (this very test, run again by the test binary with the file to use in the
    /// environment): the file is truncated under its mapping and a page past the new end is read.
    func testAPageTruncatedAwayEndsTheProcessWithOneLineNamingTheFile() throws {
        if let target = ProcessInfo.processInfo.environment["CONFAB_MAPPED_FILE_CHILD"] {
            let file = try MappedFile(path: target)
            var sum = 0
            for i in stride(from: 0, to: file.count, by: 4096) { sum &+= Int(file.bytes[i]) }   // all pages in
            XCTAssertEqual(truncate(target, 4096), 0)
            // Past the new end: SIGBUS, which the guard turns into the message and exit status 1.
            sum &+= Int(file.bytes[40000])
            print("still running after the read (\(sum))")
            exit(3)
        }
        let path = try makeFile("truncated.gguf")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["EngineCoreTests.MappedFileGuardTests/testAPageTruncatedAwayEndsTheProcessWithOneLineNamingTheFile"]
        p.environment = ProcessInfo.processInfo.environment.merging(["CONFAB_MAPPED_FILE_CHILD": path]) { $1 }
        let err = Pipe(), out = Pipe()
        p.standardError = err; p.standardOutput = out
        try p.run()
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, "ended by a signal, not by the guard: \(e)")
        XCTAssertEqual(p.terminationStatus, 1, "stdout: \(o)\nstderr: \(e)")
        let lines = e.split(separator: "\n").filter { $0.hasPrefix("confab: ") }
        XCTAssertEqual(lines, ["confab: \(path): the model file was truncated while in use (a page of its weights is gone): stopped; restore the file or reinstall the model (`confab models install`), then start again"], e)
        XCTAssertFalse(o.contains("still running"), o)
        XCTAssertFalse(e.contains("Crash") || e.contains("Fatal"), "no crash report: \(e)")
    }
}
