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

    /// Reads a whole file as interleaved float samples.
    public static func readInterleaved(_ path: String) throws -> (samples: [Float], info: Info) {
        var sfinfo = SF_INFO()
        let handle: OpaquePointer?
        if path == "-" {
            handle = sf_open_fd(0, Int32(SFM_READ), &sfinfo, 0)
        } else {
            guard FileManager.default.fileExists(atPath: path) else { throw AudioFileError(path: path, problem: "no such file") }
            handle = sf_open(path, Int32(SFM_READ), &sfinfo)
        }
        guard let sf = handle else {
            let why = String(cString: sf_strerror(nil))
            throw AudioFileError(path: path, problem: "cannot read audio (\(why))")
        }
        defer { sf_close(sf) }
        let channels = Int(sfinfo.channels)
        guard channels > 0, sfinfo.samplerate > 0 else { throw AudioFileError(path: path, problem: "no audio channels") }
        var out: [Float] = []
        var chunk = [Float](repeating: 0, count: 4096 * channels)
        while true {
            let n = chunk.withUnsafeMutableBufferPointer { sf_readf_float(sf, $0.baseAddress, 4096) }
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<(Int(n) * channels)])
        }
        if sf_error(sf) != 0 { throw AudioFileError(path: path, problem: String(cString: sf_strerror(sf))) }
        let info = Info(sampleRate: Int(sfinfo.samplerate), channels: channels, frames: out.count / channels)
        return (out, info)
    }

    /// Reads a file as mono float at `sampleRate` (channels averaged, resampled as needed).
    public static func readMono(_ path: String, sampleRate: Int) throws -> [Float] {
        let (samples, info) = try readInterleaved(path)
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
            guard let sf else { throw AudioFileError(path: path, problem: "cannot write (\(String(cString: sf_strerror(nil))))") }
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
    public init(path: String, problem: String) { self.path = path; self.problem = problem }
    public var description: String { "\(path == "-" ? "standard input" : path): \(problem)" }
}
