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
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelFileError(path: path, problem: "not a JSON object")
        }
        func num(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }
        let audio = root["audio"] as? [String: Any]
        guard let sr = num(audio?["sample_rate"]), sr > 0 else {
            throw ModelFileError(path: path, problem: "missing audio.sample_rate")
        }
        sampleRate = Int(sr)
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
            m[k] = ids.compactMap { num($0).map { Int($0) } }
        }
        phonemeIdMap = m
        var pm: [String: [String]] = [:]
        for (k, v) in (root["phoneme_map"] as? [String: Any]) ?? [:] { pm[k] = (v as? [String]) ?? [] }
        phonemeMap = pm
        numSymbols = Int(num(root["num_symbols"]) ?? Double((m.values.flatMap { $0 }.max() ?? 0) + 1))
        numSpeakers = Int(num(root["num_speakers"]) ?? 1)
        var sm: [String: Int] = [:]
        for (k, v) in (root["speaker_id_map"] as? [String: Any]) ?? [:] { if let n = num(v) { sm[k] = Int(n) } }
        speakerIdMap = sm
        for s in ["^", "$", "_"] where m[s] == nil {
            throw ModelFileError(path: path, problem: "phoneme_id_map lacks the '\(s)' symbol")
        }
    }
}
