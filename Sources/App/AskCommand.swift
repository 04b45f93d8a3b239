import ArgumentParser
import Engine
import Foundation

/// Options shared by `confab chat` and `confab ask`.
struct LLMOptions: ParsableArguments {
    @Option(help: "Language model name from the store, or a .gguf path.") var model: String?
    @Option(help: "Sampling temperature (0 = greedy).") var temperature: Float = SamplingParameters().temperature
    @Option(name: .customLong("top-k"), help: "Top-k (0 = off).") var topK = SamplingParameters().topK
    @Option(name: .customLong("top-p"), help: "Top-p (1 = off).") var topP: Float = SamplingParameters().topP
    @Option(name: .customLong("min-p"), help: "Min-p (0 = off).") var minP: Float = SamplingParameters().minP
    @Option(name: .customLong("repeat-penalty"), help: "Repetition penalty (1 = off).") var repeatPenalty: Float = SamplingParameters().repeatPenalty
    @Option(help: "Random seed (reproducible sampling).") var seed: UInt64?
    @Option(name: .customLong("max-tokens"), help: "Most tokens in one reply.") var maxTokens = 512
    @Option(help: "Stop when this text appears (repeatable).") var stop: [String] = []
    @Option(help: "Threads for the matrix products.") var threads: Int?
    @Option(help: "Context length cap in tokens (the file's own length if smaller).") var ctx = 4096
    @Option(help: "System prompt (default: a short-answer spoken-assistant prompt).") var system: String?
    @Option(help: "Speculative decoding: lookup (drafts from the conversation, checked by the model; same answer; pays off when replies repeat the context) or off.") var draft: DraftMode = .off
    @Flag(help: "Print timings as JSON (load, prefill tok/s, decode tok/s, time to first token).") var json = false

    /// "--temperature 0 (greedy) --top-k 40 …", for the usage texts.
    static var samplingDefaults: String {
        let p = SamplingParameters()
        return "--temperature \(p.temperature)\(p.temperature == 0 ? " (greedy)" : "") --top-k \(p.topK) --top-p \(p.topP) --min-p \(p.minP) --repeat-penalty \(p.repeatPenalty)"
    }

    var sampling: SamplingParameters {
        var p = SamplingParameters()
        p.temperature = temperature; p.topK = topK; p.topP = topP; p.minP = minP
        p.repeatPenalty = repeatPenalty; p.seed = seed; p.maxTokens = maxTokens; p.stop = stop
        return p
    }

    func validateValues() throws {
        guard temperature >= 0 else { throw ValidationError("--temperature must be ≥ 0") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard minP >= 0 && minP < 1 else { throw ValidationError("--min-p must be in [0, 1)") }
        guard repeatPenalty > 0 else { throw ValidationError("--repeat-penalty must be > 0") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be ≥ 1") }
        guard ctx >= 64 else { throw ValidationError("--ctx must be ≥ 64") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be ≥ 1") }
    }

    func load() throws -> LlamaGenerator {
        EngineThreads.configure(threads)
        let g = try LlamaGenerator(model: model ?? DefaultLanguageModel.announced(), contextLimit: ctx, sampling: sampling,
                                   systemPrompt: system ?? AssistantClock().systemPrompt(defaultSpokenSystemPrompt))
        g.speculation = draft.parameters
        return g
    }

    static func timings(_ g: LlamaGenerator, _ s: GenerationStats) -> [String: Any] {
        ["load_s": g.loadSeconds, "prompt_tokens": s.promptTokens, "prefill_tokens": s.prefillTokens,
         "prefill_tok_per_s": s.prefillTokensPerSecond, "generated_tokens": s.generatedTokens,
         "decode_tok_per_s": s.decodeTokensPerSecond, "time_to_first_token_s": s.timeToFirstToken,
         "stop_reason": s.stopReason, "dropped_messages": s.droppedMessages,
         "drafted_tokens": s.draftedTokens, "accepted_tokens": s.acceptedTokens, "verify_steps": s.verifySteps]
    }

    static func printJSON(_ value: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    }
}

/// How replies are drafted for speculative decoding.
enum DraftMode: String, ExpressibleByArgument, CaseIterable {
    case lookup, off
    var parameters: SpeculationParameters { self == .off ? .off : SpeculationParameters() }
}

/// `confab ask "…"`: one answer, streamed to stdout.
struct Ask: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Ask the language model one question; the answer streams to stdout (`-` reads the question from stdin).",
        discussion: """
        Defaults: --model \(DefaultLanguageModel.helpText)  \(LLMOptions.samplingDefaults)
                  --max-tokens 512  --ctx 4096  --draft off  --threads (all cores)  the spoken-assistant system prompt
        With --json the answer and timings are printed as one JSON object at the end instead.
        """
    )

    @Argument(help: "The question; `-` reads stdin.") var question: String
    @OptionGroup var options: LLMOptions
    @OptionGroup var remote: RemoteLMOptions

    func run() throws {
        do {
            try options.validateValues()
            try remote.validateRemote()
            var text = question
            if text == "-" {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            text = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw ValidationError("the question is empty") }
            if remote.isRemote { return try RemoteTextCommands.ask(text, options: options, remote: remote) }
            let g = try options.load()
            var answer = ""
            let stats = try g.generate([ChatMessage(.user, options.system == nil ? AssistantClock().prompt(text) : text)]) { piece in
                answer += piece
                if !options.json { FileHandle.standardOutput.write(Data(piece.utf8)) }
            }
            if options.json {
                var o = LLMOptions.timings(g, stats)
                o["answer"] = answer
                try LLMOptions.printJSON(o)
            } else {
                print("")
            }
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }
}
