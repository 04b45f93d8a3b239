import ArgumentParser
import Engine
import Foundation

/// `confab bench llm`: prompt prefill and token decode speed (tokens per second), like llama-bench's pp/tg.
struct BenchLLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm",
        abstract: "Measure the language model's prefill and decode speed in tokens per second.",
        discussion: "Defaults: --model qwen2.5-coder-0.5b  --prompt-tokens 128  --decode-tokens 64  --repeats 3  --threads (all cores)"
    )

    @Option(help: "Language model name from the store, or a .gguf path.") var model: String?
    @Option(name: .customLong("prompt-tokens"), help: "Prompt length for the prefill measurement.") var promptTokens = 128
    @Option(name: .customLong("decode-tokens"), help: "Tokens generated for the decode measurement.") var decodeTokens = 64
    @Option(help: "Runs of each; the best is reported.") var repeats = 3
    @Option(help: "Threads for the matrix products.") var threads: Int?
    @Flag(help: "JSON output.") var json = false

    func run() throws {
        do {
            guard promptTokens >= 1, decodeTokens >= 1, repeats >= 1 else { throw ValidationError("counts must be ≥ 1") }
            EngineThreads.configure(threads)
            let t0 = Date()
            let url = try ModelStore().resolve(model, kind: .llm)
            let m = try LlamaModel(path: url.path, contextLimit: promptTokens + decodeTokens + 8)
            let load = Date().timeIntervalSince(t0)
            // A fixed, deterministic token sequence (the values do not change the work).
            let V = m.config.vocabSize
            let prompt = (0..<promptTokens).map { Int32((1000 + $0 * 7919) % V) }
            var prefill = 0.0, decode = 0.0
            for _ in 0..<repeats {
                let a = Date()
                try m.forward(prompt, pos0: 0)
                let pp = Double(promptTokens) / Date().timeIntervalSince(a)
                let b = Date()
                for i in 0..<decodeTokens { try m.forward([Int32((i * 31 + 5) % V)], pos0: i) }
                let tg = Double(decodeTokens) / Date().timeIntervalSince(b)
                prefill = max(prefill, pp); decode = max(decode, tg)
            }
            let weights = m.file.tensors.values.reduce(0) { $0 + $1.byteCount }
            if json {
                try LLMOptions.printJSON([
                    "model": url.path, "threads": EngineThreads.count, "load_s": load,
                    "prompt_tokens": promptTokens, "decode_tokens": decodeTokens,
                    "prefill_tok_per_s": prefill, "decode_tok_per_s": decode,
                    "weight_bytes": weights, "decode_weight_gb_per_s": decode * Double(weights) / 1e9,
                ])
            } else {
                print("model    \(url.lastPathComponent) (\(m.config.architecture), \(formatBytes(weights)) of weights), \(EngineThreads.count) threads")
                print(String(format: "load     %.2f s", load))
                print(String(format: "prefill  %.1f tok/s (%d tokens)", prefill, promptTokens))
                print(String(format: "decode   %.1f tok/s (%d tokens, %.1f GB/s of weights)", decode, decodeTokens, decode * Double(weights) / 1e9))
            }
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }
}
