import Foundation

/// One Wyoming event: a JSON header line (`type`, and `data_length`/`payload_length` when data or a payload
/// follow), the data as JSON, then the payload bytes (audio).
public struct WyomingEvent: @unchecked Sendable {
    public var type: String
    public var data: [String: Any]
    public var payload: [UInt8]

    public init(_ type: String, _ data: [String: Any] = [:], payload: [UInt8] = []) {
        self.type = type; self.data = data; self.payload = payload
    }

    /// Bytes on the wire: the data goes after the header line (as the `wyoming` package writes it).
    public func encoded() -> [UInt8] {
        var header: [String: Any] = ["type": type, "version": WyomingCodec.version]
        var dataBytes: [UInt8] = []
        if !data.isEmpty, let d = try? JSONSerialization.data(withJSONObject: data, options: [.withoutEscapingSlashes]) {
            dataBytes = Array(d); header["data_length"] = dataBytes.count
        }
        if !payload.isEmpty { header["payload_length"] = payload.count }
        let line = (try? JSONSerialization.data(withJSONObject: header, options: [.withoutEscapingSlashes])) ?? Data()
        return Array(line) + [0x0A] + dataBytes + payload
    }
}

public struct WyomingProtocolError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// Wyoming's framing, read from bytes that arrive in any pieces. Every length is bounded.
///
/// Parsing is incremental: the search for a header's newline resumes where the last one stopped, and parsed bytes are
/// consumed by moving a start index (the buffer is compacted only once the consumed part is at least as long as
/// what remains), so each byte is scanned and moved a bounded number of times however the bytes are split.
public struct WyomingCodec: @unchecked Sendable {
    public static let version = "1.5.4"
    /// Longest header line, newline not counted.
    public static let maxHeaderLine = 64 * 1024
    public static let maxDataLength = 1 << 20
    public static let maxPayloadLength = 4 << 20

    private enum State { case header, data(header: [String: Any], need: Int, payload: Int), payload(header: [String: Any], data: [String: Any], need: Int) }
    /// Bytes received: `buffer[start...]` is not parsed yet.
    private var buffer: [UInt8] = []
    private var start = 0
    /// In the header state, `buffer[start..<scanned]` is known to hold no newline.
    private var scanned = 0
    private var state = State.header
    /// Bytes examined in newline searches plus bytes moved by compaction: stays within a small multiple of the bytes
    /// pushed however they are split (the tests hold it to that).
    private(set) var work = 0

    public init() {}

    /// Bytes not parsed yet (a partial header, data or payload).
    public var pending: Int { buffer.count - start }

    public mutating func push(_ bytes: some Sequence<UInt8>) throws -> [WyomingEvent] {
        buffer.append(contentsOf: bytes)
        defer { compact() }
        var out: [WyomingEvent] = []
        while true {
            switch state {
            case .header:
                let from = max(scanned, start)
                let found = buffer[from...].firstIndex(of: 0x0A)
                work += (found.map { $0 + 1 } ?? buffer.count) - from
                guard let nl = found else {
                    scanned = buffer.count
                    if buffer.count - start > Self.maxHeaderLine { throw Self.headerTooLong }
                    return out
                }
                let line = buffer[start..<nl]
                start = nl + 1; scanned = start
                if line.count > Self.maxHeaderLine { throw Self.headerTooLong }
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
                guard let h = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], h["type"] is String else {
                    throw WyomingProtocolError("an event header is not a JSON object with a type")
                }
                let dl = (h["data_length"] as? NSNumber)?.intValue ?? 0
                let pl = (h["payload_length"] as? NSNumber)?.intValue ?? 0
                guard dl >= 0, dl <= Self.maxDataLength else { throw WyomingProtocolError("data_length \(dl) is out of range (at most \(Self.maxDataLength))") }
                guard pl >= 0, pl <= Self.maxPayloadLength else { throw WyomingProtocolError("payload_length \(pl) is out of range (at most \(Self.maxPayloadLength))") }
                state = .data(header: h, need: dl, payload: pl)
            case .data(let h, let need, let pl):
                guard buffer.count - start >= need else { return out }
                var data = h["data"] as? [String: Any] ?? [:]
                if need > 0 {
                    guard let extra = try? JSONSerialization.jsonObject(with: Data(buffer[start..<(start + need)])) as? [String: Any] else {
                        throw WyomingProtocolError("event data is not a JSON object")
                    }
                    data.merge(extra) { _, new in new }
                    start += need
                }
                state = .payload(header: h, data: data, need: pl)
            case .payload(let h, let data, let need):
                guard buffer.count - start >= need else { return out }
                out.append(WyomingEvent(h["type"] as! String, data, payload: Array(buffer[start..<(start + need)])))
                start += need
                scanned = start
                state = .header
            }
        }
    }

    private static let headerTooLong = WyomingProtocolError("an event header longer than \(maxHeaderLine / 1024) KiB")

    /// Drops the consumed bytes once they are at least as many as those left (so moving what is left costs no more
    /// than what was consumed), or all of them when nothing is left.
    private mutating func compact() {
        guard start > 0 else { return }
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
        } else if start >= buffer.count - start {
            work += buffer.count - start
            buffer.removeSubrange(..<start)
        } else { return }
        scanned = max(0, scanned - start)
        start = 0
    }
}
