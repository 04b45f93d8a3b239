import ArgumentParser
import Engine
import Foundation
import RemoteLM

/// `--llm-url` and friends: the language model on an OpenAI-compatible server instead of in this process.
/// Shared by talk, converse, chat, ask and bench e2e.
struct RemoteLMOptions: ParsableArguments {
    @Option(name: .customLong("llm-url"),
            help: ArgumentHelp("Use the language model on this OpenAI-compatible server (Ollama, llama.cpp server, vLLM, `confab serve`), e.g. http://127.0.0.1:11434/v1. The key comes from CONFAB_API_KEY or OPENAI_API_KEY.", valueName: "url"))
    var llmURL: String?
    @Option(name: .customLong("llm-model"), help: ArgumentHelp("The model name to ask the server for (default: the first it lists).", valueName: "name"))
    var llmModel: String?
    @Option(name: .customLong("llm-connect-timeout"), help: ArgumentHelp("Seconds to connect to the server.", valueName: "s"))
    var connectTimeout: Double = 5
    @Option(name: .customLong("llm-first-byte-timeout"), help: ArgumentHelp("Seconds to wait for the server's first bytes (and the longest pause mid-reply).", valueName: "s"))
    var firstByteTimeout: Double = 60

    var isRemote: Bool { llmURL != nil }

    func validateRemote() throws {
        guard connectTimeout > 0 else { throw ValidationError("--llm-connect-timeout must be > 0") }
        guard firstByteTimeout > 0 else { throw ValidationError("--llm-first-byte-timeout must be > 0") }
        if llmURL == nil && llmModel != nil { throw ValidationError("--llm-model needs --llm-url (a local model is chosen with --llm or --model)") }
    }

    /// The remote generator when --llm-url is given, else nil. `maxTokens` etc. go into each request.
    func remoteGenerator(maxTokens: Int? = nil, temperature: Float? = nil, topP: Float? = nil, seed: UInt64? = nil,
                         stop: [String] = [], systemPrompt: String? = defaultSpokenSystemPrompt) throws -> RemoteChatGenerator? {
        guard let llmURL else { return nil }
        try validateRemote()
        var s = RemoteChatSettings(url: llmURL, model: llmModel, apiKey: RemoteChatSettings.apiKeyFromEnvironment())
        s.connectTimeout = connectTimeout
        s.firstByteTimeout = firstByteTimeout
        s.maxTokens = maxTokens; s.temperature = temperature; s.topP = topP; s.seed = seed; s.stop = stop
        s.systemPrompt = systemPrompt
        return try RemoteChatGenerator(s)
    }

    /// The generator for a conversation: remote with --llm-url, else the local one `local` makes.
    func generator(maxTokens: Int? = nil, local: () throws -> any ResponseGenerating) throws -> any ResponseGenerating {
        if let r = try remoteGenerator(maxTokens: maxTokens) { return r }
        return try local()
    }
}

extension RemoteChatGenerator {
    /// A reply written from synchronous code (chat, ask): the stream runs in a task, this thread waits.
    /// Returns the whole reply; each piece goes to `onText` as it arrives, on this thread.
    func replySync(_ messages: [ChatMessage], onText: @escaping @Sendable (String) -> Void) throws -> String {
        final class Box: @unchecked Sendable { var text = ""; var error: Error? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                for try await piece in self.reply(to: messages) { box.text += piece; onText(piece) }
            } catch { box.error = error }
            done.signal()
        }
        done.wait()
        if let e = box.error { throw e }
        return box.text
    }
}

/// `ask`/`chat` with --llm-url: the same loop as the local model's, text from the server.
enum RemoteTextCommands {
    static func ask(_ question: String, options: LLMOptions, remote: RemoteLMOptions) throws {
        guard let g = try remoteGenerator(options, remote) else { return }
        let answer = try g.replySync([ChatMessage(.user, question)]) { piece in
            if !options.json { FileHandle.standardOutput.write(Data(piece.utf8)) }
        }
        if options.json {
            try LLMOptions.printJSON(timings(g, answer: answer))
        } else {
            FileHandle.standardOutput.write(Data("\n".utf8))
        }
    }

    static func chat(options: LLMOptions, remote: RemoteLMOptions) throws {
        guard let g = try remoteGenerator(options, remote) else { return }
        let tty = isatty(0) != 0
        var history: [ChatMessage] = []
        if tty { print("confab chat: \(g.host) (\(remote.llmModel ?? "the server's first model")). /reset, /quit.") }
        while true {
            if tty { FileHandle.standardOutput.write(Data("> ".utf8)) }
            guard let line = readLine(strippingNewline: true) else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text == "/quit" || text == "/exit" { break }
            if text == "/reset" { history.removeAll(); continue }
            history.append(ChatMessage(.user, text))
            do {
                let answer = try g.replySync(history) { FileHandle.standardOutput.write(Data($0.utf8)) }
                FileHandle.standardOutput.write(Data("\n".utf8))
                history.append(ChatMessage(.assistant, answer.trimmingCharacters(in: .whitespacesAndNewlines)))
                if options.json {
                    let data = try JSONSerialization.data(withJSONObject: timings(g, answer: nil), options: [.sortedKeys])
                    FileHandle.standardOutput.write(data + Data("\n".utf8))
                }
            } catch {
                // One line; the conversation goes on (the failed question is not kept).
                FileHandle.standardOutput.write(Data("\n".utf8))
                history.removeLast()
                FileHandle.standardError.write(Data("confab: language model: \(error)\n".utf8))
            }
        }
    }

    static func remoteGenerator(_ o: LLMOptions, _ r: RemoteLMOptions) throws -> RemoteChatGenerator? {
        try r.remoteGenerator(maxTokens: o.maxTokens, temperature: o.temperature, topP: o.topP, seed: o.seed,
                              stop: o.stop, systemPrompt: o.system ?? defaultSpokenSystemPrompt)
    }

    static func timings(_ g: RemoteChatGenerator, answer: String?) -> [String: Any] {
        let s = g.lastStats
        var o: [String: Any] = ["url": g.endpoint.absoluteString, "time_to_first_byte_s": s.timeToFirstByte,
                                "time_to_first_token_s": s.timeToFirstToken, "seconds": s.seconds, "pieces": s.pieces]
        if let v = s.promptTokens { o["prompt_tokens"] = v }
        if let v = s.completionTokens { o["generated_tokens"] = v }
        if let v = s.finishReason { o["stop_reason"] = v }
        if let answer { o["answer"] = answer }
        return o
    }
}
