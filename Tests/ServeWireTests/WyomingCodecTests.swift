import Foundation
@testable import ServeWire
import XCTest

/// Wyoming framing from bytes split every way a network can split them: the same events whatever the pieces, every
/// limit exact, and the parse incremental (each byte searched and moved a bounded number of times).
final class WyomingCodecTests: XCTestCase {
    /// A small deterministic generator (SplitMix64) for the random splits.
    struct SplitMix { var s: UInt64; mutating func next(_ n: Int) -> Int { s &+= 0x9E37_79B9_7F4A_7C15; var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB; return Int((z ^ (z >> 31)) % UInt64(n)) } }

    /// Feeds `wire` in pieces of the sizes `sizes` gives (cycled), returning every event and the codec.
    func decode(_ wire: [UInt8], pieces sizes: () -> Int) throws -> ([WyomingEvent], WyomingCodec) {
        var codec = WyomingCodec()
        var got: [WyomingEvent] = []
        var i = 0
        while i < wire.count {
            let n = min(sizes(), wire.count - i)
            got += try codec.push(wire[i..<(i + n)])
            i += n
        }
        return (got, codec)
    }

    func assertSame(_ a: [WyomingEvent], _ b: [WyomingEvent], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.type, y.type, what, file: file, line: line)
            XCTAssertEqual(x.payload, y.payload, what, file: file, line: line)
            XCTAssertTrue(NSDictionary(dictionary: x.data).isEqual(to: y.data), "\(what): \(x.data) vs \(y.data)", file: file, line: line)
        }
    }

    /// 400 events of every shape: no data, data after the header, data inline in the header, payloads of 0–5000
    /// bytes, blank lines (CR LF, spaces) between events, text with newlines and non-ASCII characters.
    func manyEvents() -> (wire: [UInt8], types: [String]) {
        var wire: [UInt8] = [], types: [String] = []
        for i in 0..<400 {
            switch i % 5 {
            case 0: wire += WyomingEvent("describe").encoded(); types.append("describe")
            case 1:
                let payload = (0..<((i * 37) % 5000)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
                wire += WyomingEvent("audio-chunk", ["rate": 16000, "width": 2, "channels": 1, "timestamp": i], payload: payload).encoded()
                types.append("audio-chunk")
            case 2: wire += WyomingEvent("transcript", ["text": "héllo\nworld \(i) 東京"]).encoded(); types.append("transcript")
            case 3: wire += Array("{\"type\":\"transcribe\",\"data\":{\"language\":\"en\",\"i\":\(i)}}\n".utf8); types.append("transcribe")
            default:
                wire += Array((i % 2 == 0 ? "\r\n" : "   \n").utf8)
                wire += WyomingEvent("ping", ["text": String(repeating: "p", count: i * 50)]).encoded(); types.append("ping")
            }
        }
        return (wire, types)
    }

    func testEverySplitGivesTheSameEvents() throws {
        let (wire, types) = manyEvents()
        let (whole, c0) = try decode(wire) { wire.count }
        XCTAssertEqual(whole.map(\.type), types)
        XCTAssertEqual(whole[1].data["timestamp"] as? Int, 1)
        XCTAssertEqual(whole[1].payload.count, 37)
        XCTAssertEqual(whole[2].data["text"] as? String, "héllo\nworld 2 東京")
        XCTAssertEqual(whole[3].data["i"] as? Int, 3)
        XCTAssertEqual(whole[399].data["text"] as? String, String(repeating: "p", count: 399 * 50))
        XCTAssertEqual(c0.pending, 0)
        var rng = SplitMix(s: 17)
        let splits: [(String, () -> Int)] = [("byte by byte", { 1 }), ("3 bytes", { 3 }), ("64 bytes", { 64 }), ("4 KiB", { 4096 }),
                                             ("64 KiB", { 65536 }), ("random 1–3000", { 1 + rng.next(3000) }), ("random 1–8", { 1 + rng.next(8) })]
        for (what, sizes) in splits {
            let (got, codec) = try decode(wire, pieces: sizes)
            assertSame(got, whole, what)
            XCTAssertEqual(codec.pending, 0, what)
            // Each byte is searched for a newline at most once and moved at most once (compaction moves only what
            // remains when it is no more than what was consumed): no rescans from the start of the buffer.
            XCTAssertLessThanOrEqual(codec.work, 2 * wire.count, what)
        }
    }

    /// A header line of exactly the limit parses, whole or byte by byte; one byte more is refused, whole (newline
    /// included) or as soon as its byte past the limit arrives.
    func testHeaderLineLimitIsExact() throws {
        let head = Array("{\"type\":\"ping\",\"data\":{\"text\":\"".utf8), tail = Array("\"}}".utf8)
        func header(length: Int) -> [UInt8] {
            head + [UInt8](repeating: 0x61, count: length - head.count - tail.count) + tail
        }
        let max = WyomingCodec.maxHeaderLine
        let atLimit = header(length: max)
        XCTAssertEqual(atLimit.count, max)
        for (what, step) in [("whole", atLimit.count + 1), ("byte by byte", 1)] {
            let (events, codec) = try decode(atLimit + [0x0A]) { step }
            XCTAssertEqual(events.map(\.type), ["ping"], what)
            XCTAssertEqual((events.first?.data["text"] as? String)?.count, max - head.count - tail.count, what)
            XCTAssertLessThanOrEqual(codec.work, 2 * (max + 1), what)
        }
        let past = header(length: max + 1)
        XCTAssertThrowsError(try decode(past + [0x0A]) { past.count + 1 }) { XCTAssertTrue("\($0)".contains("longer than 64 KiB"), "\($0)") }
        var codec = WyomingCodec()
        for b in past.prefix(max) { XCTAssertEqual(try codec.push([b]).count, 0) }
        XCTAssertThrowsError(try codec.push([past[max]])) { XCTAssertTrue("\($0)".contains("longer than 64 KiB"), "\($0)") }
        // Blank-line padding before a header does not count towards it.
        let (events, _) = try decode(Array(String(repeating: " \r\n", count: 30_000).utf8) + atLimit + [0x0A]) { 4096 }
        XCTAssertEqual(events.map(\.type), ["ping"])
    }

    /// data_length and payload_length at their limits are read (in pieces), one more is refused from the header alone.
    func testDataAndPayloadLimitsAreExact() throws {
        let maxData = WyomingCodec.maxDataLength, maxPayload = WyomingCodec.maxPayloadLength
        let prefix = Array("{\"k\":\"".utf8), suffix = Array("\"}".utf8)
        let data = prefix + [UInt8](repeating: 0x62, count: maxData - prefix.count - suffix.count) + suffix
        let payload = (0..<maxPayload).map { UInt8(truncatingIfNeeded: $0 * 13) }
        let wire = Array("{\"type\":\"audio-chunk\",\"data_length\":\(maxData),\"payload_length\":\(maxPayload)}\n".utf8) + data + payload
        let (events, codec) = try decode(wire) { 65536 }
        XCTAssertEqual(events.count, 1)
        XCTAssertEqual((events.first?.data["k"] as? String)?.count, maxData - 8)
        XCTAssertEqual(events.first?.payload, payload)
        XCTAssertEqual(codec.pending, 0)
        XCTAssertLessThanOrEqual(codec.work, 2 * wire.count)
        for (field, value) in [("data_length", maxData + 1), ("payload_length", maxPayload + 1)] {
            var c = WyomingCodec()
            XCTAssertThrowsError(try c.push(Array("{\"type\":\"x\",\"\(field)\":\(value)}\n".utf8))) {
                XCTAssertEqual("\($0)", "\(field) \(value) is out of range (at most \(value - 1))")
            }
        }
    }

    func testWyomingRoundTripInPieces() throws {
        let events = [WyomingEvent("describe"),
                      WyomingEvent("audio-chunk", ["rate": 16000, "width": 2, "channels": 1], payload: Array(repeating: 7, count: 3000)),
                      WyomingEvent("transcript", ["text": "héllo\nworld"])]
        let wire = events.flatMap { $0.encoded() }
        for step in [1, 5, 64, wire.count] {
            var codec = WyomingCodec()
            var got: [WyomingEvent] = []
            var i = 0
            while i < wire.count { got += try codec.push(wire[i..<min(i + step, wire.count)]); i += step }
            XCTAssertEqual(got.map(\.type), ["describe", "audio-chunk", "transcript"])
            XCTAssertEqual(got[1].payload.count, 3000)
            XCTAssertEqual(got[1].data["rate"] as? Int, 16000)
            XCTAssertEqual(got[2].data["text"] as? String, "héllo\nworld")
        }
        // Data inline in the header (older writers) is read too.
        var codec = WyomingCodec()
        let inline = try codec.push(Array("{\"type\":\"transcribe\",\"data\":{\"language\":\"en\"}}\n".utf8))
        XCTAssertEqual(inline.first?.data["language"] as? String, "en")
    }

    func testWyomingBadFrames() {
        func push(_ s: String) throws { var c = WyomingCodec(); _ = try c.push(Array(s.utf8)) }
        XCTAssertThrowsError(try push("not json\n"))
        XCTAssertThrowsError(try push("{\"no\":\"type\"}\n"))
        XCTAssertThrowsError(try push("{\"type\":\"x\",\"payload_length\":99999999999}\n")) { XCTAssertTrue("\($0)".contains("payload_length")) }
        XCTAssertThrowsError(try push("{\"type\":\"x\",\"data_length\":-1}\n"))
        XCTAssertThrowsError(try push("{\"type\":\"x\",\"data_length\":3}\nabc")) { XCTAssertTrue("\($0)".contains("not a JSON object")) }
        XCTAssertThrowsError(try push(String(repeating: "x", count: 70_000)))
    }
}
