import Foundation

/// Runs the `confab` binary built next to the test bundle, as a user would: no terminal, standard input empty.
public enum ConfabProcess {
    public struct Result: Sendable {
        public var status: Int32
        public var out: String
        public var err: String
    }

    public struct NotBuilt: Error, CustomStringConvertible {
        public var description: String { "confab binary not built next to the tests" }
    }

    public static func binary() throws -> URL {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for c in [here.appendingPathComponent("confab"), Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("confab")]
        where FileManager.default.isExecutableFile(atPath: c.path) { return c }
        throw NotBuilt()
    }

    /// `args` with this process's environment plus `setting`.
    public static func run(_ args: [String], setting: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = try binary()
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(setting) { _, new in new }
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }
}

/// The `confab` binary running in the background as a user would start it (standard input empty), its output going to
/// files that a test reads while it runs, so the test can act at a given moment (a signal in a given phase).
public final class RunningConfab {
    public let process = Process()
    public let outPath: String
    public let errPath: String

    /// Starts `args` with this process's environment plus `setting`; output files go into `dir`.
    public init(_ args: [String], in dir: URL, setting: [String: String] = [:]) throws {
        outPath = dir.appendingPathComponent("stdout-\(UInt32.random(in: 0...UInt32.max))").path
        errPath = dir.appendingPathComponent("stderr-\(UInt32.random(in: 0...UInt32.max))").path
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = try ConfabProcess.binary()
        process.arguments = args
        process.environment = ProcessInfo.processInfo.environment.merging(setting) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

    public var out: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    public var err: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    /// Polls until `condition` holds (true) or `timeout` seconds pass or the process ends without it (false).
    @discardableResult
    public func wait(timeout: Double, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            if !process.isRunning { return condition() }
            usleep(20_000)
        }
        return false
    }

    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits until the process has taken over SIGINT, SIGTERM and SIGHUP (caught or ignored in /proc: confab handles
    /// them through dispatch sources), so a signal sent now reaches confab's own handling.
    @discardableResult
    public func waitUntilSignalsAreHandled(timeout: Double = 20) -> Bool {
        let mask: UInt64 = (1 << (UInt64(SIGINT) - 1)) | (1 << (UInt64(SIGTERM) - 1)) | (1 << (UInt64(SIGHUP) - 1))
        return wait(timeout: timeout) {
            guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return false }
            func bits(_ key: String) -> UInt64 {
                guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
                return UInt64(line.dropFirst(key.count).trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
            }
            return (bits("SigIgn:") | bits("SigCgt:")) & mask == mask
        }
    }

    /// Waits up to `timeout` seconds for the process to end: its exit status, or nil if it is still running (then it
    /// is killed) or was ended by a signal it did not handle.
    public func exitStatus(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return nil }
        return process.terminationReason == .exit ? process.terminationStatus : nil
    }
}
