import ArgumentParser
import Engine
import Foundation

/// `confab chat`: a text conversation in the terminal, answers streamed as they are written.
/// Works with stdin not a terminal too (one user line per turn). `/reset` forgets the conversation, `/quit` ends.
struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with the language model in the terminal (streaming; /reset, /quit).",
        discussion: """
        Defaults: --model \(DefaultLanguageModel.helpText)  \(LLMOptions.samplingDefaults)
                  --max-tokens 512  --ctx 4096  --draft off  --threads (all cores)  the spoken-assistant system prompt
        With --json each turn's timings are printed as a JSON line after the answer.
        """
    )

    @OptionGroup var options: LLMOptions
    @OptionGroup var remote: RemoteLMOptions

    func run() throws {
        do {
            try options.validateValues()
            try remote.validateRemote()
            if remote.isRemote { return try RemoteTextCommands.chat(options: options, remote: remote) }
            let g = try options.load()
            let tty = isatty(0) != 0
            var history: [ChatMessage] = []
            if tty { print("confab chat: \(g.model.config.architecture), context \(g.model.config.contextLength) tokens. /reset, /quit.") }
            while true {
                if tty { FileHandle.standardOutput.write(Data("> ".utf8)) }
                guard let line = readLine(strippingNewline: true) else { break }
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                if text == "/quit" || text == "/exit" { break }
                if text == "/reset" { history.removeAll(); g.reset(); continue }
                history.append(ChatMessage(.user, options.system == nil ? AssistantClock().prompt(text) : text))
                var answer = ""
                let stats = try g.generate(history) { piece in
                    answer += piece
                    FileHandle.standardOutput.write(Data(piece.utf8))
                }
                print("")
                history.append(ChatMessage(.assistant, answer.trimmingCharacters(in: .whitespacesAndNewlines)))
                if options.json {
                    let data = try JSONSerialization.data(withJSONObject: LLMOptions.timings(g, stats), options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                }
            }
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }
}
