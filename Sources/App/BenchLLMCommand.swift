import ArgumentParser
import Engine
import Foundation

/// `confab bench llm`: prompt prefill and token decode speed (tokens per second), like llama-bench's pp/tg.
struct BenchLLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm",
        abstract: "Measure the language model's prefill and decode speed in tokens per second.",
        discussion: "Defaults: --model \(DefaultLanguageModel.helpText)  --prompt-tokens 128  --decode-tokens 64  --repeats 3  --threads (all cores)"
    )

    @Option(help: "Language model name from the store, or a .gguf path.") var model: String?
    @Option(name: .customLong("prompt-tokens"), help: "Prompt length for the prefill measurement.") var promptTokens = 128
    @Option(name: .customLong("decode-tokens"), help: "Tokens generated for the decode measurement.") var decodeTokens = 64
    @Option(help: "Runs of each; the best is reported.") var repeats = 3
    @Option(help: "Threads for the matrix products.") var threads: Int?
    @Flag(help: "JSON output.") var json = false
    @Option(name: .customLong("greedy-from"), help: ArgumentHelp("Parity check (scripts/llm_parity.sh): a JSON file of prompts as token-id arrays; prints each one's greedy continuation, top-2 logits per step and first-step logits.", visibility: .hidden))
    var greedyFrom: String?
    @Option(name: .customLong("greedy-tokens"), help: ArgumentHelp("Tokens per greedy continuation.", visibility: .hidden)) var greedyTokens = 32

    func run() throws {
        do {
            guard promptTokens >= 1, decodeTokens >= 1, repeats >= 1 else { throw ValidationError("counts must be ≥ 1") }
            EngineThreads.configure(threads)
            let t0 = Date()
            let url = try ModelStore().resolve(model, kind: .llm)
            let m = try LlamaModel(path: url.path, contextLimit: greedyFrom == nil ? promptTokens + decodeTokens + 8 : 2048)
            let load = Date().timeIntervalSince(t0)
            // A fixed, deterministic token sequence (the values do not change the work).
            let V = m.config.vocabSize
            if let greedyFrom { return try parity(m, greedyFrom) }
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
            // Bytes of weights one decoded token reads: every tensor but the embedding table when the output head is a
            // separate tensor (then only one embedding row is read); with a tied head the table is the head.
            let all = m.file.tensors.values.reduce(0) { $0 + $1.byteCount }
            let tiedHead = m.file.tensors["output.weight"] == nil
            let weights = tiedHead ? all : all - (m.file.tensors["token_embd.weight"]?.byteCount ?? 0)
            if json {
                try LLMOptions.printJSON([
                    "model": url.path, "threads": EngineThreads.count, "load_s": load,
                    "prompt_tokens": promptTokens, "decode_tokens": decodeTokens,
                    "prefill_tok_per_s": prefill, "decode_tok_per_s": decode,
                    "weight_bytes": all, "weight_bytes_per_token": weights, "decode_weight_gb_per_s": decode * Double(weights) / 1e9,
                ])
            } else {
                print("model    \(url.lastPathComponent) (\(m.config.architecture), \(formatBytes(all)) of weights, \(formatBytes(weights)) read per token), \(EngineThreads.count) threads")
                print(String(format: "load     %.2f s", load))
                print(String(format: "prefill  %.1f tok/s (%d tokens)", prefill, promptTokens))
                print(String(format: "decode   %.1f tok/s (%d tokens, %.1f GB/s of weights)", decode, decodeTokens, decode * Double(weights) / 1e9))
            }
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }

    /// Greedy continuations for the parity script: ids, the two best logits at each step, the first step's logits.
    func parity(_ m: LlamaModel, _ path: String) throws {
        let prompts = try JSONDecoder().decode([[Int32]].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        var results: [[String: Any]] = []
        for p in prompts {
            try m.forward(p, pos0: 0)
            var ids: [Int32] = [], top2: [[Double]] = []
            let first = (0..<m.config.vocabSize).map { Double(m.logits[$0]) }
            for step in 0..<greedyTokens {
                var a = 0, b = -1
                for i in 1..<m.config.vocabSize where m.logits[i] > m.logits[a] { a = i }
                for i in 0..<m.config.vocabSize where i != a && (b < 0 || m.logits[i] > m.logits[b]) { b = i }
                ids.append(Int32(a)); top2.append([Double(a), Double(m.logits[a]), Double(b), Double(m.logits[b])])
                if step + 1 < greedyTokens { try m.forward([Int32(a)], pos0: p.count + step) }
            }
            results.append(["tokens": ids, "top2": top2, "first_logits": first])
        }
        let data = try JSONSerialization.data(withJSONObject: results)
        FileHandle.standardOutput.write(data)
    }
}
