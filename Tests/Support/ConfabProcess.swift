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
