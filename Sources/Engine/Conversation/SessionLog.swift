import Foundation

/// The session log: one JSON object per finished turn (JSON Lines), appended with a single write(2)
/// and fsync'd before the next turn starts, so the file is complete up to the last finished turn even
/// if the process is killed between turns.
public final class SessionLog: @unchecked Sendable {
    public let path: String
    private var fd: Int32
    private let encoder: JSONEncoder

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ConversationError("\(path): cannot open the session log (\(String(cString: strerror(errno))))") }
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
    }

    deinit { if fd >= 0 { close(fd) } }

    public func append(_ record: TurnRecord) throws {
        var line = try encoder.encode(record)
        line.append(0x0A)
        // A line cut short (the disk filled up mid-write) is taken back, so the log stays whole records.
        let start = lseek(fd, 0, SEEK_END)
        try line.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    let problem = String(cString: strerror(errno))
                    if start >= 0 && off > 0 { _ = ftruncate(fd, start) }
                    throw ConversationError("\(path): cannot write the session log (\(problem))")
                }
                off += n
            }
        }
        fsync(fd)
    }

    /// Reads a session log back (one record per complete line).
    public static func read(_ path: String) throws -> [TurnRecord] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConversationError("\(path): cannot read the session log")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try data.split(separator: 0x0A).map { line in
            do { return try decoder.decode(TurnRecord.self, from: Data(line)) }
            catch { throw ConversationError("\(path): a line is not a turn record (\(error))") }
        }
    }
}
