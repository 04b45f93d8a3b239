import XCTest
@testable import AudioIO

final class RingBufferTests: XCTestCase {
    func testCapacityIsPowerOfTwo() {
        XCTAssertEqual(SPSCRingBuffer(minimumCapacity: 1000).capacity, 1024)
        XCTAssertEqual(SPSCRingBuffer(minimumCapacity: 1024).capacity, 1024)
        XCTAssertEqual(SPSCRingBuffer(minimumCapacity: 1025).capacity, 2048)
        XCTAssertEqual(SPSCRingBuffer(minimumCapacity: 0).capacity, 2)
    }

    func testEmptyAndFullEdges() {
        let ring = SPSCRingBuffer(minimumCapacity: 8)
        var out = [Float](repeating: -1, count: 16)
        XCTAssertEqual(ring.availableToRead, 0)
        XCTAssertEqual(out.withUnsafeMutableBufferPointer { ring.read(into: $0) }, 0, "reading an empty ring returns nothing")
        XCTAssertEqual(out, [Float](repeating: -1, count: 16), "and leaves the destination alone")
        let src: [Float] = (0..<12).map(Float.init)
        XCTAssertEqual(src.withUnsafeBufferPointer { ring.write($0) }, 8, "a write stops at capacity")
        XCTAssertEqual(ring.availableToWrite, 0)
        XCTAssertEqual(src.withUnsafeBufferPointer { ring.write($0) }, 0, "a full ring accepts nothing")
        XCTAssertEqual(out.withUnsafeMutableBufferPointer { ring.read(into: $0) }, 8)
        XCTAssertEqual(Array(out[0..<8]), Array(src[0..<8]))
        XCTAssertEqual(ring.availableToRead, 0)
        XCTAssertEqual(ring.availableToWrite, 8)
    }

    func testWrapAroundKeepsOrder() {
        let ring = SPSCRingBuffer(minimumCapacity: 8)
        var next: Float = 0, expect: Float = 0
        var tmp = [Float](repeating: 0, count: 8)
        // Chunk sizes that do not divide the capacity, so every offset and every split is exercised.
        for step in 0..<200 {
            let w = 1 + step % 7
            let chunk: [Float] = (0..<w).map { next + Float($0) }
            let wrote = chunk.withUnsafeBufferPointer { ring.write($0) }
            next += Float(wrote)
            let r = 1 + (step * 5) % 8
            let got = tmp.withUnsafeMutableBufferPointer { ring.read(into: UnsafeMutableBufferPointer(rebasing: $0[0..<r])) }
            for i in 0..<got { XCTAssertEqual(tmp[i], expect); expect += 1 }
        }
        XCTAssertEqual(ring.totalWritten, Int(next))
        XCTAssertEqual(ring.totalRead, Int(expect))
        XCTAssertGreaterThan(ring.totalWritten, 50 * ring.capacity, "wrapped many times")
    }

    func testDiscardAll() {
        let ring = SPSCRingBuffer(minimumCapacity: 16)
        let src: [Float] = (0..<10).map(Float.init)
        src.withUnsafeBufferPointer { _ = ring.write($0) }
        XCTAssertEqual(ring.discardAll(), 10)
        XCTAssertEqual(ring.availableToRead, 0)
        XCTAssertEqual(ring.availableToWrite, 16)
        src.withUnsafeBufferPointer { _ = ring.write($0) }
        var out = [Float](repeating: 0, count: 10)
        XCTAssertEqual(out.withUnsafeMutableBufferPointer { ring.read(into: $0) }, 10)
        XCTAssertEqual(out, src, "writes after a discard read back intact")
    }

    /// Two threads move 32 million samples of a known sequence through a small ring in uneven chunks:
    /// nothing may be lost, duplicated or reordered.
    func testProducerConsumerThreadsMoveTensOfMillionsOfSamples() {
        let total = 32_000_000
        let ring = SPSCRingBuffer(minimumCapacity: 4096)
        // The sequence i mod 2^24 is exact in Float.
        @Sendable func value(_ i: Int) -> Float { Float(i & 0xFF_FFFF) }
        let producer = Thread {
            var chunk = [Float](repeating: 0, count: 1500)
            var i = 0, rng: UInt64 = 0x9E37_79B9_7F4A_7C15
            while i < total {
                rng = rng &* 6364136223846793005 &+ 1442695040888963407
                let n = min(total - i, 1 + Int(rng >> 33) % chunk.count)
                for k in 0..<n { chunk[k] = value(i + k) }
                var off = 0
                while off < n {
                    let w = chunk.withUnsafeBufferPointer { ring.write($0.baseAddress! + off, count: n - off) }
                    off += w
                    if w == 0 { sched_yield() }
                }
                i += n
            }
        }
        producer.start()
        var buf = [Float](repeating: 0, count: 2000)
        var received = 0, mismatches = 0, firstBad = -1
        var rng: UInt64 = 12345
        while received < total {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            let want = 1 + Int(rng >> 33) % buf.count
            let n = buf.withUnsafeMutableBufferPointer { ring.read(into: $0.baseAddress!, count: want) }
            if n == 0 { sched_yield(); continue }
            for k in 0..<n where buf[k] != value(received + k) {
                mismatches += 1
                if firstBad < 0 { firstBad = received + k }
            }
            received += n
        }
        while !producer.isFinished { sched_yield() }
        XCTAssertEqual(received, total)
        XCTAssertEqual(mismatches, 0, "first bad sample at \(firstBad)")
        XCTAssertEqual(ring.availableToRead, 0, "nothing extra arrived")
        XCTAssertEqual(ring.totalWritten, total)
    }
}

final class LevelMeterTests: XCTestCase {
    func testFullScaleSineAndSilence() {
        var m = LevelMeter(windowSize: 1600)
        let sine: [Float] = (0..<1600).map { sinf(2 * .pi * 100 * Float($0) / 16000) }
        m.process(sine)
        XCTAssertEqual(m.windows, 1)
        XCTAssertEqual(m.peakDB, 0, accuracy: 0.01)
        XCTAssertEqual(m.rmsDB, -3.01, accuracy: 0.02, "a full-scale sine is -3 dBFS RMS")
        m.process([Float](repeating: 0, count: 1600))
        XCTAssertEqual(m.rmsDB, LevelMeter.floorDB)
        XCTAssertEqual(m.peakDB, LevelMeter.floorDB)
    }

    func testWindowsSpanCalls() {
        var m = LevelMeter(windowSize: 100)
        m.process([Float](repeating: 0.5, count: 60))
        XCTAssertEqual(m.windows, 0)
        m.process([Float](repeating: 0.5, count: 60))
        XCTAssertEqual(m.windows, 1)
        XCTAssertEqual(m.rms, 0.5, accuracy: 1e-6)
        XCTAssertEqual(m.rmsDB, -6.02, accuracy: 0.01)
        let r = LevelReading()
        r.publish(rms: m.rms, peak: m.peak)
        XCTAssertEqual(r.peakDB, -6.02, accuracy: 0.01)
    }
}
