import Foundation
import XCTest

/// The package's root (this file is Tests/ServeTests/ServeSupport.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let peersDir = packageRoot.appendingPathComponent("Tests/ServeTests/peers")

struct HarnessError: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

/// The `confab` binary built beside the test bundle (or CONFAB_BIN).
func confabBinary() throws -> URL {
    var candidates: [URL] = []
    if let env = ProcessInfo.processInfo.environment["CONFAB_BIN"] { candidates.append(URL(fileURLWithPath: env)) }
    candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("confab"))
    candidates.append(Bundle.main.bundleURL.appendingPathComponent("confab"))
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("confab"))
    for b in Bundle.allBundles { candidates.append(b.bundleURL.deletingLastPathComponent().appendingPathComponent("confab")) }
    guard let bin = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw HarnessError("confab binary not found next to the tests (looked at \(candidates.map(\.path))); build it with `swift build -c release`")
    }
    return bin
}

/// The Python with the peers (`openai`, `wyoming`) that scripts/test.sh installs; missing is a failure, not a skip.
func peersPython() throws -> String {
    let path = ProcessInfo.processInfo.environment["CONFAB_PEERS_PYTHON"]
        ?? packageRoot.appendingPathComponent("scripts/.venv-peers/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw HarnessError("no Python with the openai and wyoming packages at \(path): run scripts/test.sh (it builds scripts/.venv-peers)")
    }
    return path
}

/// Reads a pipe on its own thread, keeping everything and waking waiters on each line.
final class LineReader: @unchecked Sendable {
    private let lock = NSCondition()
    private var text = ""
    private var closed = false
    init(_ handle: FileHandle) {
        Thread {
            while true {
                let d = handle.availableData
                self.lock.lock()
                if d.isEmpty { self.closed = true } else { self.text += String(decoding: d, as: UTF8.self) }
                self.lock.broadcast(); self.lock.unlock()
                if d.isEmpty { return }
            }
        }.start()
    }
    var all: String { lock.lock(); defer { lock.unlock() }; return text }
    /// Waits until `match` finds something in the text so far (or the pipe closes, or time runs out).
    func wait<T>(_ seconds: Double, _ match: (String) -> T?) -> T? {
        let end = Date().addingTimeInterval(seconds)
        lock.lock(); defer { lock.unlock() }
        while true {
            if let v = match(text) { return v }
            if closed || Date() > end { return nil }
            lock.wait(until: min(end, Date().addingTimeInterval(0.2)))
        }
    }
}

/// A `confab serve` process with the small models, on free ports, for one test class.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let stdout: LineReader
    let stderr: LineReader
    let port: Int
    let wyomingPort: Int?
    let key: String

    init(key: String = "test-key", extra: [String] = [], wyoming: Bool = true) throws {
        self.key = key
        process.executableURL = try confabBinary()
        process.arguments = ["serve", "--port", "0", "--llm", "smollm2-135m", "--api-key", key] + (wyoming ? ["--wyoming", "127.0.0.1:0"] : []) + extra
        let out = Pipe(), err = Pipe()
        process.standardOutput = out; process.standardError = err
        process.standardInput = FileHandle.nullDevice
        stdout = LineReader(out.fileHandleForReading)
        stderr = LineReader(err.fileHandleForReading)
        try process.run()
        let reader = stdout
        func port(_ prefix: String) -> Int? {
            reader.wait(180) { text -> Int? in
                guard let r = text.range(of: prefix) else { return nil }
                let digits = text[r.upperBound...].prefix { $0.isNumber }
                return Int(digits)
            }
        }
        guard let p = port("listening on http://127.0.0.1:") else {
            process.terminate()
            throw HarnessError("confab serve did not start: \(stderr.all.suffix(2000))")
        }
        self.port = p
        if wyoming {
            guard let w = port("wyoming on tcp://127.0.0.1:") else { process.terminate(); throw HarnessError("no Wyoming server: \(stderr.all.suffix(2000))") }
            wyomingPort = w
        } else { wyomingPort = nil }
    }

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

struct PeerRun { var status: Int32; var stdout: String; var stderr: String }

/// Runs a peer script with the peers' Python; returns when it exits (or kills it after `timeout`).
func runPeer(_ script: String, _ args: [String], timeout: Double = 300) throws -> PeerRun {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try peersPython())
    p.arguments = [peersDir.appendingPathComponent(script).path] + args
    var env = ProcessInfo.processInfo.environment
    env["PYTHONUNBUFFERED"] = "1"
    for k in ["OPENAI_API_KEY", "OPENAI_BASE_URL", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] { env.removeValue(forKey: k) }
    env["NO_PROXY"] = "*"
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    p.standardInput = FileHandle.nullDevice
    let o = LineReader(out.fileHandleForReading), e = LineReader(err.fileHandleForReading)
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(20_000) }
    if p.isRunning { p.terminate(); p.waitUntilExit(); throw HarnessError("\(script) \(args.last ?? "") ran over \(Int(timeout)) s: \(o.all.suffix(1000)) \(e.all.suffix(1000))") }
    p.waitUntilExit()
    _ = o.wait(5) { _ in nil as Int? }
    return PeerRun(status: p.terminationStatus, stdout: o.all, stderr: e.all)
}

/// A peer scenario that must pass: its `ok:` lines are returned (and printed into the test log).
@discardableResult
func assertPeer(_ script: String, _ args: [String], timeout: Double = 300, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
    let r = try runPeer(script, args, timeout: timeout)
    print(r.stdout, terminator: "")
    XCTAssertEqual(r.status, 0, "\(script) \(args.last ?? ""): \(r.stdout.suffix(1500))\n\(r.stderr.suffix(3000))", file: file, line: line)
    let oks = r.stdout.split(separator: "\n").filter { $0.hasPrefix("ok:") }.map(String.init)
    XCTAssertFalse(oks.isEmpty, "\(script) printed no ok: lines", file: file, line: line)
    return oks
}
