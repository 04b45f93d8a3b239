import CSndFile
import Foundation

/// Audio files through libsndfile: anything it reads (WAV, FLAC, OGG, AIFF, …) at any rate,
/// channel count and sample format comes in; float mono at the requested rate comes out.
public enum AudioFile {
    public struct Info: Sendable, Equatable {
        public var sampleRate: Int
        public var channels: Int
        public var frames: Int
        public var seconds: Double { sampleRate > 0 ? Double(frames) / Double(sampleRate) : 0 }
    }

    /// Reads a whole file as interleaved float samples. "-" reads standard input.
    /// Errors name the file and say what is wrong with it (missing, empty, truncated, not audio).
    public static func readInterleaved(_ path: String) throws -> (samples: [Float], info: Info) {
        var sfinfo = SF_INFO()
        let handle: OpaquePointer?
        if path == "-" {
            handle = sf_open_fd(0, Int32(SFM_READ), &sfinfo, 0)
            if handle == nil {
                throw AudioFileError(path: path, problem: "is not a WAV libsndfile can read (\(String(cString: sf_strerror(nil)))): pipe a WAV into `confab play -`")
            }
        } else {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw AudioFileError(path: path, problem: "no such file: check the path")
            }
            if isDir.boolValue { throw AudioFileError(path: path, problem: "is a directory, not an audio file") }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            if size == 0 { throw AudioFileError(path: path, problem: "is empty (0 bytes): not an audio file") }
            handle = sf_open(path, Int32(SFM_READ), &sfinfo)
            if handle == nil {
                let why = String(cString: sf_strerror(nil))
                if looksLikeAudioContainer(path) {
                    throw AudioFileError(path: path, problem: "is damaged or truncated (\(why)): re-export or re-record it")
                }
                throw AudioFileError(path: path, problem: "is not an audio file libsndfile can read (\(why)): use WAV, FLAC, OGG or another format it reads")
            }
        }
        guard let sf = handle else { throw AudioFileError(path: path, problem: "cannot be read") }
        defer { sf_close(sf) }
        return try read(sf, sfinfo, path: path)
    }

    /// Reads a whole file already in memory (an upload) as interleaved float samples, through the same checks as a
    /// file on disk; `name` names it in errors. `maxSamples` bounds what a compressed file may decode to.
    public static func readInterleaved(bytes: [UInt8], name: String, maxSamples: Int = .max) throws -> (samples: [Float], info: Info) {
        try withMemoryFile(bytes, name: name) { sf, sfinfo in try read(sf, sfinfo, path: name, maxSamples: maxSamples) }
    }

    /// Opens bytes in memory with libsndfile (virtual I/O) and hands the open file to `body`.
    static func withMemoryFile<T>(_ bytes: [UInt8], name: String, _ body: (OpaquePointer, SF_INFO) throws -> T) throws -> T {
        guard !bytes.isEmpty else { throw AudioFileError(path: name, problem: "is empty (0 bytes): not an audio file") }
        let source = MemorySource(bytes)
        var io = SF_VIRTUAL_IO(
            get_filelen: { sf_count_t(MemorySource.from($0).bytes.count) },
            seek: { offset, whence, user in
                let m = MemorySource.from(user)
                let base: Int
                switch whence {
                case SEEK_CUR: base = m.position
                case SEEK_END: base = m.bytes.count
                default: base = 0
                }
                let (to, o) = base.addingReportingOverflow(Int(offset))
                guard !o, to >= 0 else { return -1 }
                m.position = to
                return sf_count_t(to)
            },
            read: { ptr, count, user in
                let m = MemorySource.from(user)
                guard let ptr, count > 0, m.position < m.bytes.count else { return 0 }
                let n = min(Int(count), m.bytes.count - m.position)
                m.bytes.withUnsafeBytes { ptr.copyMemory(from: $0.baseAddress! + m.position, byteCount: n) }
                m.position += n
                return sf_count_t(n)
            },
            write: { _, _, _ in 0 },
            tell: { sf_count_t(MemorySource.from($0).position) })
        var sfinfo = SF_INFO()
        let handle = withExtendedLifetime(source) {
            sf_open_virtual(&io, Int32(SFM_READ), &sfinfo, Unmanaged.passUnretained(source).toOpaque())
        }
        guard let sf = handle else {
            let why = String(cString: sf_strerror(nil))
            if isAudioContainer(head: Array(bytes.prefix(4))) {
                throw AudioFileError(path: name, problem: "is damaged or truncated (\(why)): re-export or re-record it")
            }
            throw AudioFileError(path: name, problem: "is not an audio file libsndfile can read (\(why)): use WAV, FLAC, OGG or another format it reads")
        }
        defer { sf_close(sf) }
        return try withExtendedLifetime(source) { try body(sf, sfinfo) }
    }

    /// How much audio an untrusted file (an upload) may decode to. A compressed file (FLAC, Ogg) a few kilobytes long
    /// can hold hours of audio, or a header that claims them; these bound what reading it costs, whatever it claims.
    public struct DecodeLimit: Sendable, Equatable {
        /// Longest audio, in seconds: at most seconds × the file's rate frames.
        public var seconds: Double
        /// Most channels.
        public var channels: Int
        /// Most samples decoded in all (frames × channels): bounds the work for a file at a high rate or with many channels.
        public var samples: Int

        /// `samples` defaults to `seconds` of 48 kHz stereo.
        public init(seconds: Double, channels: Int = 8, samples: Int? = nil) {
            self.seconds = seconds; self.channels = channels
            self.samples = samples ?? Self.frames(seconds: seconds, rate: 96_000)
        }

        /// No limit (a file the user chose).
        public static let none = DecodeLimit(seconds: .infinity, channels: .max, samples: .max)

        /// seconds × rate, rounded down, saturating at Int.max (no overflow whatever the values).
        static func frames(seconds: Double, rate: Int) -> Int {
            guard seconds > 0 else { return 0 }
            let f = (seconds * Double(rate)).rounded(.down)
            return f.isFinite && f < 9.0e18 ? Int(f) : .max
        }
    }

    /// The bytes behind `readInterleaved(bytes:)`, with libsndfile's read position.
    private final class MemorySource {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        static func from(_ p: UnsafeMutableRawPointer?) -> MemorySource { Unmanaged<MemorySource>.fromOpaque(p!).takeUnretainedValue() }
    }

    /// Sample rates read: 1 kHz to 768 kHz (below that a header is lying, and resampling it would multiply its size).
    public static let sampleRates = 1000...768_000

    /// Everything after opening: checks of the header against the data, then the samples.
    static func read(_ sf: OpaquePointer, _ sfinfo: SF_INFO, path: String, maxSamples: Int = .max) throws -> (samples: [Float], info: Info) {
        try check(sf, sfinfo, path: path)
        let channels = Int(sfinfo.channels)
        if sfinfo.frames > 0 && sfinfo.frames != Int64.max {
            let (claimed, o) = Int(sfinfo.frames).multipliedReportingOverflow(by: channels)
            if o || claimed > maxSamples { throw AudioFileError(path: path, problem: "decodes to more than \(maxSamples) samples: too long", exceedsLimit: true) }
        }
        var out: [Float] = []
        // The header's frame count is only a hint (a damaged file may claim anything): reserve at most 16 MB up front.
        if sfinfo.frames > 0 { out.reserveCapacity(Int(min(sfinfo.frames, Int64((1 << 22) / channels))) * channels) }
        // Reads of at most 64 Ki samples, whatever the channel count.
        let framesPerRead = max(1, 65536 / channels)
        var chunk = [Float](repeating: 0, count: framesPerRead * channels)
        while true {
            let n = chunk.withUnsafeMutableBufferPointer { sf_readf_float(sf, $0.baseAddress, sf_count_t(framesPerRead)) }
            if n <= 0 { break }
            guard out.count + Int(n) * channels <= maxSamples else {
                throw AudioFileError(path: path, problem: "decodes to more than \(maxSamples) samples: too long", exceedsLimit: true)
            }
            out.append(contentsOf: chunk[0..<(Int(n) * channels)])
        }
        try checkDecoded(sf, path: path)
        if out.isEmpty && path == "-" { throw AudioFileError(path: path, problem: "holds no audio: pipe a WAV into `confab play -`") }
        let info = Info(sampleRate: Int(sfinfo.samplerate), channels: channels, frames: out.count / channels)
        return (out, info)
    }

    /// Reads an open file as mono at `sampleRate` in bounded chunks: each chunk is mixed down and resampled as it
    /// comes, so memory is the output's size whatever the file's rate and channels, and `limit` is checked against
    /// the header before anything is decoded and again against what decodes (a header may lie or not know).
    static func readMono(_ sf: OpaquePointer, _ sfinfo: SF_INFO, path: String, sampleRate: Int, limit: DecodeLimit) throws -> [Float] {
        try check(sf, sfinfo, path: path)
        let channels = Int(sfinfo.channels), rate = Int(sfinfo.samplerate)
        guard channels <= limit.channels else {
            throw AudioFileError(path: path, problem: "has \(channels) channels (at most \(limit.channels) are read): mix it down to mono or stereo")
        }
        let maxFrames = DecodeLimit.frames(seconds: limit.seconds, rate: rate)
        let most = duration(limit.seconds)
        func tooLong(claimed: Int?) -> AudioFileError {
            let what = claimed.map { "is \(duration(Double($0) / Double(rate))) long by its header, more than the \(most)" }
                ?? "decodes to more than the \(most) of audio"
            return AudioFileError(path: path, problem: "\(what) that is read: send a shorter recording", exceedsLimit: true)
        }
        func tooManySamples() -> AudioFileError {
            AudioFileError(path: path, problem: "decodes to more than the \(limit.samples) samples that are read (\(channels) channels at \(rate) Hz): send a shorter recording, or one with fewer channels or a lower rate", exceedsLimit: true)
        }
        // libsndfile's frame count: what the header claims, SF_COUNT_MAX (Int64.max) when it does not say.
        let claimed = sfinfo.frames == Int64.max ? nil : Int(sfinfo.frames)
        if let claimed {
            if claimed > maxFrames { throw tooLong(claimed: claimed) }
            let (samples, o) = claimed.multipliedReportingOverflow(by: channels)
            if o || samples > limit.samples { throw tooManySamples() }
        }
        var stream = Resampler.Stream(from: rate, to: sampleRate)
        var out: [Float] = []
        // The header is only a hint: reserve at most 16 MB up front.
        if let claimed, claimed > 0 {
            out.reserveCapacity(min(DecodeLimit.frames(seconds: Double(claimed) / Double(rate), rate: sampleRate) + 1, 1 << 22))
        }
        // Reads of at most 64 Ki samples, whatever the channel count.
        let framesPerRead = max(1, 65536 / channels)
        var chunk = [Float](repeating: 0, count: framesPerRead * channels)
        var mono = [Float](repeating: 0, count: framesPerRead)
        var frames = 0
        let inv = 1 / Float(channels)
        while true {
            let got = chunk.withUnsafeMutableBufferPointer { sf_readf_float(sf, $0.baseAddress, sf_count_t(framesPerRead)) }
            if got <= 0 { break }
            let n = Int(got)
            frames += n
            if frames > maxFrames { throw tooLong(claimed: nil) }
            if frames > limit.samples / channels { throw tooManySamples() }
            mono.withUnsafeMutableBufferPointer { m in
                chunk.withUnsafeBufferPointer { c in
                    if channels == 1 { for f in 0..<n { m[f] = c[f] }; return }
                    for f in 0..<n {
                        var s: Float = 0
                        for ch in 0..<channels { s += c[f * channels + ch] }
                        m[f] = s * inv
                    }
                }
            }
            mono.withUnsafeBufferPointer { stream.push(UnsafeBufferPointer(rebasing: $0[0..<n]), into: &out) }
        }
        try checkDecoded(sf, path: path)
        stream.finish(into: &out)
        return out
    }

    /// "45 s", "30 min", "2 h 5 min": a length in a message.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "unlimited" }
        if seconds < 60 { return String(format: seconds == seconds.rounded() ? "%.0f s" : "%.1f s", seconds) }
        let minutes = Int((seconds / 60).rounded(.down))
        if minutes < 60 { let s = Int(seconds) % 60; return s == 0 ? "\(minutes) min" : "\(minutes) min \(s) s" }
        if minutes >= 60 * 24 * 365 { return String(format: "%.0f years", seconds / (365 * 86400)) }
        return minutes % 60 == 0 ? "\(minutes / 60) h" : "\(minutes / 60) h \(minutes % 60) min"
    }

    /// A decode that stopped on an error, not at the end.
    static func checkDecoded(_ sf: OpaquePointer, path: String) throws {
        if sf_error(sf) != 0 {
            throw AudioFileError(path: path, problem: "is damaged or truncated (\(String(cString: sf_strerror(sf)))): re-export or re-record it")
        }
    }

    /// The header's rate and channels, and its data length against what the file holds.
    static func check(_ sf: OpaquePointer, _ sfinfo: SF_INFO, path: String) throws {
        let channels = Int(sfinfo.channels)
        guard channels > 0, sfinfo.samplerate > 0 else { throw AudioFileError(path: path, problem: "has no audio channels or no sample rate: re-export it") }
        guard sampleRates.contains(Int(sfinfo.samplerate)) else {
            throw AudioFileError(path: path, problem: "has a sample rate of \(sfinfo.samplerate) Hz (Confab reads 1 kHz to 768 kHz): re-export it")
        }
        if let (promised, holds) = truncation(sf) {
            let bytesPerSecond = Double(sfinfo.samplerate) * Double(sfinfo.channels) * Double(bytesPerSample(sfinfo.format))
            throw AudioFileError(path: path, problem: String(format: "is truncated: its header promises %.2f s of audio but the file holds %.2f s; re-export or re-record it",
                                                             Double(promised) / bytesPerSecond, Double(holds) / bytesPerSecond))
        }
    }

    /// The first bytes of WAV/RIFF, RF64, AIFF, FLAC, OGG, CAF, AU: an audio container that failed to open is damaged, not foreign.
    static func looksLikeAudioContainer(_ path: String) -> Bool {
        guard let fh = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? fh.close() }
        return isAudioContainer(head: [UInt8]((try? fh.read(upToCount: 4)) ?? Data()))
    }

    static func isAudioContainer(head: [UInt8]) -> Bool {
        guard head.count == 4, let tag = String(bytes: head, encoding: .isoLatin1) else { return false }
        return ["RIFF", "RIFX", "RF64", "FORM", "fLaC", "OggS", "caff", ".snd", "wvpk"].contains(tag)
    }

    /// libsndfile reads a WAV/AIFF whose data chunk is cut short and notes it in its log as
    /// "data : <header bytes> (should be <bytes present>)". Returns both when the header promises more.
    /// (Streamed files with a placeholder length of 0 or 0xFFFFFFFF are not truncated.)
    static func truncation(_ sf: OpaquePointer) -> (promised: Int, holds: Int)? {
        var log = [CChar](repeating: 0, count: 8192)
        sf_command(sf, Int32(SFC_GET_LOG_INFO), &log, Int32(log.count))
        let text = String(cString: log)
        for line in text.split(separator: "\n") where line.hasPrefix("data :") || line.hasPrefix("SSND :") {
            let nums = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            guard line.contains("should be"), nums.count >= 2 else { continue }
            let (promised, holds) = (nums[0], nums[1])
            if promised > holds && promised != 0xFFFF_FFFF && promised != 0x7FFF_FFFF && promised != 0 { return (promised, holds) }
        }
        return nil
    }

    static func bytesPerSample(_ format: Int32) -> Int {
        switch format & Int32(SF_FORMAT_SUBMASK) {
        case Int32(SF_FORMAT_PCM_S8), Int32(SF_FORMAT_PCM_U8), Int32(SF_FORMAT_ULAW), Int32(SF_FORMAT_ALAW): return 1
        case Int32(SF_FORMAT_PCM_16): return 2
        case Int32(SF_FORMAT_PCM_24): return 3
        case Int32(SF_FORMAT_DOUBLE): return 8
        default: return 4
        }
    }

    /// Reads a file as mono float at `sampleRate` (channels averaged, resampled as needed).
    public static func readMono(_ path: String, sampleRate: Int) throws -> [Float] {
        let (samples, info) = try readInterleaved(path)
        return mono(samples, info, sampleRate: sampleRate)
    }

    /// A file in memory (an upload) as mono float at `sampleRate`; `name` names it in errors. Decoded in bounded
    /// chunks within `limit` (the same samples as `readMono` of the file on disk); beyond it, an error whose
    /// `exceedsLimit` is set.
    public static func readMono(bytes: [UInt8], name: String, sampleRate: Int, limit: DecodeLimit = .none) throws -> [Float] {
        try withMemoryFile(bytes, name: name) { sf, sfinfo in try readMono(sf, sfinfo, path: name, sampleRate: sampleRate, limit: limit) }
    }

    static func mono(_ samples: [Float], _ info: Info, sampleRate: Int) -> [Float] {
        var mono: [Float]
        if info.channels == 1 {
            mono = samples
        } else {
            mono = [Float](repeating: 0, count: info.frames)
            let c = info.channels, inv = 1 / Float(c)
            for f in 0..<info.frames {
                var s: Float = 0
                for ch in 0..<c { s += samples[f * c + ch] }
                mono[f] = s * inv
            }
        }
        if info.sampleRate != sampleRate {
            mono = Resampler.resample(mono, from: info.sampleRate, to: sampleRate)
        }
        return mono
    }

    public enum Format: Sendable { case wav16, wavFloat, flac16
        var sfFormat: Int32 {
            switch self {
            case .wav16: return Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
            case .wavFloat: return Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT)
            case .flac16: return Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16)
            }
        }
        /// By file name: .flac is FLAC, anything else WAV.
        public static func forPath(_ path: String) -> Format { path.lowercased().hasSuffix(".flac") ? .flac16 : .wav16 }
    }

    /// Writes interleaved float samples. "-" writes a WAV to stdout.
    public static func write(_ path: String, samples: [Float], sampleRate: Int, channels: Int = 1, format: Format? = nil) throws {
        let writer = try Writer(path: path, sampleRate: sampleRate, channels: channels, format: format ?? .forPath(path))
        try writer.append(samples)
        writer.close()
    }

    /// Incremental writer: the header is updated as frames are written, so the file stays valid
    /// even if the program is stopped between writes (SFC_SET_UPDATE_HEADER_AUTO).
    public final class Writer: @unchecked Sendable {
        private var sf: OpaquePointer?
        public let path: String
        public let channels: Int
        public private(set) var framesWritten = 0

        public init(path: String, sampleRate: Int, channels: Int = 1, format: Format? = nil) throws {
            self.path = path; self.channels = channels
            var info = SF_INFO()
            info.samplerate = Int32(sampleRate); info.channels = Int32(channels)
            info.format = (format ?? .forPath(path)).sfFormat
            if path == "-" {
                info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
                sf = sf_open_fd(1, Int32(SFM_WRITE), &info, 0)
            } else {
                sf = sf_open(path, Int32(SFM_WRITE), &info)
            }
            guard let sf else {
                throw AudioFileError(path: path, problem: "cannot be written (\(String(cString: sf_strerror(nil)))): check the folder exists and is writable")
            }
            sf_command(sf, Int32(SFC_SET_UPDATE_HEADER_AUTO), nil, Int32(SF_TRUE))
            // Floats outside [-1, 1] are clipped, not wrapped, when stored as integers.
            sf_command(sf, Int32(SFC_SET_CLIPPING), nil, Int32(SF_TRUE))
        }

        public func append(_ samples: UnsafeBufferPointer<Float>) throws {
            guard let sf, samples.count > 0 else { return }
            let frames = samples.count / channels
            let n = sf_writef_float(sf, samples.baseAddress, sf_count_t(frames))
            guard n == frames else { throw AudioFileError(path: path, problem: "write failed (\(String(cString: sf_strerror(sf))))") }
            framesWritten += frames
        }

        public func append(_ samples: [Float]) throws {
            try samples.withUnsafeBufferPointer { try append($0) }
        }

        public func close() {
            if let sf { sf_write_sync(sf); sf_close(sf) }
            sf = nil
        }

        deinit { close() }
    }
}

public struct AudioFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String
    /// The file is readable but longer or larger than a `DecodeLimit` allows.
    public let exceedsLimit: Bool
    public init(path: String, problem: String, exceedsLimit: Bool = false) {
        self.path = path; self.problem = problem; self.exceedsLimit = exceedsLimit
    }
    public var description: String { "\(path == "-" ? "standard input" : path): \(problem)" }
}
