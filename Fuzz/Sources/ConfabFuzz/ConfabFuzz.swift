import AudioIO
import Engine
import Foundation
import ServeWire

// One libFuzzer binary for every parser of untrusted bytes; CONFAB_FUZZ_TARGET (set by scripts/fuzz.sh) picks the
// parser. Each target feeds the bytes to the same entry point the app uses and then touches what the parser hands
// on (tensor data, variables, tokens), so a parser that lets a lie through is caught by the address sanitizer.
// A thrown error is the expected outcome for malformed input; a crash, a hang, an out-of-bounds access or an
// allocation beyond libFuzzer's limit is a bug.

enum FuzzTarget: String, CaseIterable {
    case gguf, ct2, whisperConfig = "whisper-config", whisperVocab = "whisper-vocab", onnx, piperConfig = "piper-config"
    case manifest, audio, multipart, wyoming

    func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .gguf: fuzzGGUF(bytes)
        case .ct2: fuzzCTranslate2(bytes)
        case .whisperConfig: _ = try? WhisperConfigFile(data: Data(bytes), path: "config.json")
        case .whisperVocab: fuzzVocabulary(bytes)
        case .onnx: fuzzONNX(bytes)
        case .piperConfig: _ = try? PiperConfig(data: Data(bytes), path: "voice.onnx.json")
        case .manifest: _ = (try? ModelManifest.decode(Data(bytes), path: "models.json"))?.models.map(\.totalSize)
        case .audio: fuzzAudio(bytes)
        case .multipart: fuzzMultipart(bytes)
        case .wyoming: fuzzWyoming(bytes)
        }
    }
}

nonisolated(unsafe) private var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let name = ProcessInfo.processInfo.environment["CONFAB_FUZZ_TARGET"] ?? ""
    guard let t = FuzzTarget(rawValue: name) else {
        let all = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("confab-fuzz: set CONFAB_FUZZ_TARGET to one of: \(all)\n".utf8))
        exit(2)
    }
    selected = t
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size)
    selected?.run(bytes)
    return 0
}

/// Reads the first and last byte of a region the parser says is in the file (ASan reports it if it is not).
@inline(never)
func touch(_ p: UnsafeRawPointer, _ count: Int) -> UInt8 {
    guard count > 0 else { return 0 }
    return p.load(as: UInt8.self) &+ p.load(fromByteOffset: count - 1, as: UInt8.self)
}

nonisolated(unsafe) var sink: UInt64 = 0

func fuzzGGUF(_ bytes: UnsafeRawBufferPointer) {
    guard let file = try? MappedFile(copying: bytes, path: "model.gguf"), let gguf = try? GGUFFile(file: file) else { return }
    for name in gguf.tensorOrder {
        let t = gguf.tensors[name]!
        sink &+= UInt64(touch(t.data, t.byteCount)) &+ UInt64(t.rows &* t.rowBytes)
    }
    _ = try? gguf.int("general.alignment")
    // The tokenizer and chat format are built from the metadata: the next consumers of these bytes.
    if let tok = try? Tokenizer(gguf: gguf) {
        let ids = tok.encode("Hello, world! 123 <|im_start|>user\nnaïve café 東京", parseSpecial: true)
        sink &+= UInt64(ids.count)
        _ = ChatTemplate.detect(gguf: gguf, tokenizer: tok)
    }
}

func fuzzCTranslate2(_ bytes: UnsafeRawBufferPointer) {
    guard let file = try? MappedFile(copying: bytes, path: "model.bin"), let ct2 = try? CTranslate2ModelFile(file: file) else { return }
    for (name, v) in ct2.variables {
        _ = ct2.scalar(name)
        if let s = ct2.stored(name) { sink &+= UInt64(touch(s.pointer, s.variable.byteCount)) }
        // Dequantized copies are at most 4 bytes per stored byte; the file is small here.
        if v.byteCount <= 1 << 20, let f = try? ct2.floats(name), f.count > 0 { sink &+= UInt64(f[f.count - 1].bitPattern) }
    }
}

func fuzzVocabulary(_ bytes: UnsafeRawBufferPointer) {
    guard let v = try? WhisperVocabulary(data: Data(bytes), path: "vocabulary.txt") else { return }
    let text = v.decode([0, 1, v.eot, v.sot, v.timestampBegin, v.count - 1, v.count, -1], special: true)
    sink &+= UInt64(text.utf8.count) &+ UInt64(v.languageToken("en") ?? 0)
}

func fuzzONNX(_ bytes: UnsafeRawBufferPointer) {
    guard let file = try? MappedFile(copying: bytes, path: "voice.onnx"), let w = try? ONNXWeights(file: file) else { return }
    for t in w.tensors.values where t.count > 0 { sink &+= UInt64(t.pointer[t.count - 1].bitPattern) }
    _ = try? VITSWeights(w)
}

/// As `confab serve` reads an upload (bounded decode, 16 kHz mono), with a limit of 20 s so one input stays quick
/// (a few kilobytes of FLAC can hold hours); then the interleaved reader with a sample bound.
func fuzzAudio(_ bytes: UnsafeRawBufferPointer) {
    let upload = Array(bytes)
    if let mono = try? AudioFile.readMono(bytes: upload, name: "upload", sampleRate: 16000, limit: .init(seconds: 20)) {
        sink &+= UInt64(mono.count) &+ UInt64(mono.last?.bitPattern ?? 0)
    }
    if let (samples, info) = try? AudioFile.readInterleaved(bytes: upload, name: "upload", maxSamples: 1 << 22) {
        sink &+= UInt64(samples.count) &+ UInt64(info.frames)
    }
}

/// The first line is the request's Content-Type; the rest is the body.
func fuzzMultipart(_ bytes: UnsafeRawBufferPointer) {
    let all = Array(bytes)
    let nl = all.firstIndex(of: 0x0A) ?? all.count
    let contentType = String(decoding: all[..<nl], as: UTF8.self)
    let body = nl < all.count ? Array(all[(nl + 1)...]) : []
    guard let boundary = try? MultipartForm.boundary(contentType: contentType) else { return }
    guard let form = try? MultipartForm(body: body, boundary: boundary) else { return }
    for p in form.parts { sink &+= UInt64(p.data.count) &+ UInt64(p.text.utf8.count) }
    _ = form.field("model")
}

/// The bytes arrive in pieces whose sizes come from the first byte, as a network read would split them.
func fuzzWyoming(_ bytes: UnsafeRawBufferPointer) {
    guard let first = bytes.first else { return }
    let piece = Int(first % 64) + 1
    var codec = WyomingCodec()
    var rest = bytes.dropFirst()
    while !rest.isEmpty {
        let chunk = rest.prefix(piece)
        rest = rest.dropFirst(chunk.count)
        guard let events = try? codec.push(chunk) else { return }
        for e in events { sink &+= UInt64(e.payload.count) &+ UInt64(e.type.utf8.count) &+ UInt64(e.encoded().count) }
    }
}
