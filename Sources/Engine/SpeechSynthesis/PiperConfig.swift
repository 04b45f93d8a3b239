import Foundation

/// The voice's `.onnx.json`: what the phonemizer and the sampler need. Hyperparameters of the network itself
/// come from the weight shapes (VITSWeights), not from here.
public struct PiperConfig: Sendable {
    public var sampleRate: Int
    public var espeakVoice: String
    public var noiseScale: Float
    public var lengthScale: Float
    public var noiseW: Float
    /// One code point (as a String of one scalar) → its ids (Piper maps a symbol to a list).
    public var phonemeIdMap: [String: [Int]]
    public var phonemeMap: [String: [String]]
    public var numSymbols: Int
    public var numSpeakers: Int
    public var speakerIdMap: [String: Int]
    public var quality: String

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(path: path, problem: "cannot read the voice config (expected next to the .onnx)")
        }
        try self.init(data: data, path: path)
    }

    /// The `.onnx.json`'s bytes; `path` names the file in errors. Every number that becomes an Int is checked
    /// to be a whole number in range first (a JSON 1e300 must not trap the conversion).
    public init(data: Data, path: String) throws {
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelFileError(path: path, problem: "not a JSON object")
        }
        func num(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }
        /// A whole number in 0..<2^24 (ids, counts), else nil.
        func small(_ v: Any?) -> Int? { num(v).flatMap { Int(exactly: $0) }.flatMap { (0..<(1 << 24)).contains($0) ? $0 : nil } }
        func count(_ key: String) throws -> Int? {
            guard let v = root[key], !(v is NSNull) else { return nil }
            guard let n = small(v) else { throw ModelFileError(path: path, problem: "\(key) \(v) is not a count") }
            return n
        }
        let audio = root["audio"] as? [String: Any]
        guard let sr = num(audio?["sample_rate"]), sr > 0 else {
            throw ModelFileError(path: path, problem: "missing audio.sample_rate")
        }
        guard let rate = Int(exactly: sr), rate <= 1_000_000 else {
            throw ModelFileError(path: path, problem: "audio.sample_rate \(sr) is not a sample rate in Hz")
        }
        sampleRate = rate
        quality = audio?["quality"] as? String ?? "unknown"
        espeakVoice = (root["espeak"] as? [String: Any])?["voice"] as? String ?? "en-us"
        let inf = root["inference"] as? [String: Any]
        noiseScale = Float(num(inf?["noise_scale"]) ?? 0.667)
        lengthScale = Float(num(inf?["length_scale"]) ?? 1)
        noiseW = Float(num(inf?["noise_w"]) ?? 0.8)
        guard let idMap = root["phoneme_id_map"] as? [String: Any], !idMap.isEmpty else {
            throw ModelFileError(path: path, problem: "missing phoneme_id_map")
        }
        var m: [String: [Int]] = [:]
        for (k, v) in idMap {
            guard let ids = v as? [Any] else { throw ModelFileError(path: path, problem: "phoneme_id_map[\(k)] is not a list") }
            m[k] = try ids.map {
                guard let id = small($0) else { throw ModelFileError(path: path, problem: "phoneme_id_map[\(k)] holds \($0), not a phoneme id") }
                return id
            }
        }
        phonemeIdMap = m
        var pm: [String: [String]] = [:]
        for (k, v) in (root["phoneme_map"] as? [String: Any]) ?? [:] { pm[k] = (v as? [String]) ?? [] }
        phonemeMap = pm
        numSymbols = try count("num_symbols") ?? (m.values.flatMap { $0 }.max() ?? 0) + 1
        numSpeakers = try count("num_speakers") ?? 1
        var sm: [String: Int] = [:]
        for (k, v) in (root["speaker_id_map"] as? [String: Any]) ?? [:] { if let n = small(v) { sm[k] = n } }
        speakerIdMap = sm
        for s in ["^", "$", "_"] where m[s] == nil {
            throw ModelFileError(path: path, problem: "phoneme_id_map lacks the '\(s)' symbol")
        }
    }
}
