import Engine
import Foundation

/// Transcripts in OpenAI's response formats, and audio in the speech formats.
enum TranscriptFormat: String, CaseIterable {
    case json, text, verbose_json, srt, vtt

    var contentType: String {
        switch self {
        case .json, .verbose_json: return "application/json"
        case .text: return "text/plain; charset=utf-8"
        case .srt: return "application/x-subrip; charset=utf-8"
        case .vtt: return "text/vtt; charset=utf-8"
        }
    }

    func render(_ t: Transcript, duration: Double, task: String = "transcribe") -> String {
        let text = t.text.trimmingCharacters(in: .whitespacesAndNewlines)
        switch self {
        case .json:
            return Self.json(["text": text])
        case .text:
            return text + "\n"
        case .verbose_json:
            let segments: [[String: Any]] = t.segments.enumerated().map { i, s in
                ["id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text, "tokens": [Int](),
                 "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 0.0, "no_speech_prob": 0.0]
            }
            return Self.json(["task": task, "language": Self.languageName(t.language ?? "en"), "duration": duration,
                              "text": text, "segments": segments])
        case .srt:
            return t.segments.enumerated().map { i, s in
                "\(i + 1)\n\(Self.stamp(s.start, ",")) --> \(Self.stamp(s.end, ","))\n\(s.text.trimmingCharacters(in: .whitespaces))\n"
            }.joined(separator: "\n")
        case .vtt:
            return "WEBVTT\n\n" + t.segments.map { s in
                "\(Self.stamp(s.start, ".")) --> \(Self.stamp(s.end, "."))\n\(s.text.trimmingCharacters(in: .whitespaces))\n"
            }.joined(separator: "\n")
        }
    }

    static func stamp(_ seconds: Double, _ sep: String) -> String {
        let ms = Int((max(0, seconds) * 1000).rounded())
        return String(format: "%02d:%02d:%02d%@%03d", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, sep, ms % 1000)
    }

    static func json(_ o: Any) -> String {
        let d = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: d, as: UTF8.self)
    }

    /// OpenAI's verbose_json names the language in full.
    static func languageName(_ code: String) -> String {
        let names = ["en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian", "nl": "dutch",
                     "pt": "portuguese", "ru": "russian", "zh": "chinese", "ja": "japanese", "ko": "korean", "pl": "polish"]
        return names[code] ?? code
    }
}

enum SpeechFormat: String, CaseIterable {
    case wav, pcm, flac
    var contentType: String {
        switch self { case .wav: return "audio/wav"; case .pcm: return "audio/pcm"; case .flac: return "audio/flac" }
    }
}

enum PCM16 {
    /// Float samples → 16-bit little-endian bytes (clipped).
    static func bytes(_ samples: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: samples.count * 2)
        for (i, s) in samples.enumerated() {
            let v = Int16(max(-32768, min(32767, (s * 32767).rounded())))
            out[2 * i] = UInt8(truncatingIfNeeded: v); out[2 * i + 1] = UInt8(truncatingIfNeeded: v >> 8)
        }
        return out
    }

    /// 16-bit little-endian bytes → floats, channels mixed down. A trailing partial frame is ignored.
    static func floats(_ bytes: [UInt8], channels: Int) -> [Float] {
        let frames = bytes.count / (2 * max(channels, 1))
        var out = [Float](repeating: 0, count: frames)
        let inv = 1 / (32768 * Float(max(channels, 1)))
        for f in 0..<frames {
            var s: Int32 = 0
            for c in 0..<channels {
                let i = 2 * (f * channels + c)
                s += Int32(Int16(bitPattern: UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8))
            }
            out[f] = Float(s) * inv
        }
        return out
    }

    /// A WAV header for a stream of unknown length (the sizes are the largest possible, as streaming servers do).
    static func streamingWAVHeader(sampleRate: Int, channels: Int = 1) -> [UInt8] {
        var h: [UInt8] = []
        func u32(_ v: UInt32) { h += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func u16(_ v: UInt16) { h += withUnsafeBytes(of: v.littleEndian, Array.init) }
        h += Array("RIFF".utf8); u32(0xFFFF_FFFF); h += Array("WAVE".utf8)
        h += Array("fmt ".utf8); u32(16); u16(1); u16(UInt16(channels)); u32(UInt32(sampleRate))
        u32(UInt32(sampleRate * channels * 2)); u16(UInt16(channels * 2)); u16(16)
        h += Array("data".utf8); u32(0xFFFF_FFFF)
        return h
    }
}
