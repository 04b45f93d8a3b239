import XCTest
@testable import Engine

/// The default voice from the model store, loaded once for all tests. A missing voice fails the tests.
enum TestVoice {
    nonisolated(unsafe) private static var voice: PiperVoice?
    private static let lock = NSLock()
    static func shared() throws -> PiperVoice {
        lock.lock(); defer { lock.unlock() }
        if let voice { return voice }
        let v = try PiperVoice("en_US-joe-medium")
        voice = v
        return v
    }
}

func correlation(_ a: [Float], _ b: [Float]) -> Double {
    let n = min(a.count, b.count)
    guard n > 1 else { return 0 }
    var ma = 0.0, mb = 0.0
    for i in 0..<n { ma += Double(a[i]); mb += Double(b[i]) }
    ma /= Double(n); mb /= Double(n)
    var sab = 0.0, saa = 0.0, sbb = 0.0
    for i in 0..<n {
        let x = Double(a[i]) - ma, y = Double(b[i]) - mb
        sab += x * y; saa += x * x; sbb += y * y
    }
    return sab / max((saa * sbb).squareRoot(), 1e-30)
}
