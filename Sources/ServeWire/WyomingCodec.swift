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
public struct WyomingCodec: @unchecked Sendable {
    public static let version = "1.5.4"
    public static let maxHeaderLine = 64 * 1024
    public static let maxDataLength = 1 << 20
    public static let maxPayloadLength = 4 << 20

    private enum State { case header, data(header: [String: Any], need: Int, payload: Int), payload(header: [String: Any], data: [String: Any], need: Int) }
    private var buffer: [UInt8] = []
    private var state = State.header

    public init() {}

    public mutating func push(_ bytes: some Sequence<UInt8>) throws -> [WyomingEvent] {
        buffer += bytes
        var out: [WyomingEvent] = []
        while true {
            switch state {
            case .header:
                guard let nl = buffer.firstIndex(of: 0x0A) else {
                    if buffer.count > Self.maxHeaderLine { throw WyomingProtocolError("an event header longer than \(Self.maxHeaderLine / 1024) KiB") }
                    return out
                }
                let line = Array(buffer[..<nl]); buffer.removeSubrange(...nl)
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
                guard buffer.count >= need else { return out }
                var data = h["data"] as? [String: Any] ?? [:]
                if need > 0 {
                    guard let extra = try? JSONSerialization.jsonObject(with: Data(buffer[..<need])) as? [String: Any] else {
                        throw WyomingProtocolError("event data is not a JSON object")
                    }
                    data.merge(extra) { _, new in new }
                    buffer.removeSubrange(..<need)
                }
                state = .payload(header: h, data: data, need: pl)
            case .payload(let h, let data, let need):
                guard buffer.count >= need else { return out }
                out.append(WyomingEvent(h["type"] as! String, data, payload: Array(buffer[..<need])))
                buffer.removeSubrange(..<need)
                state = .header
            }
        }
    }
}
