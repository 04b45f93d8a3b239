import ArgumentParser
import Engine
import Foundation

@main
struct Confab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "confab",
        abstract: "A local voice assistant for the terminal: speech → transcript → reply → speech, all on this machine.",
        subcommands: [
            Talk.self, Devices.self, Play.self, Record.self,
            Converse.self, Transcribe.self, Dictate.self, Chat.self, Ask.self, Say.self,
            Models.self, Bench.self,
        ],
        // `confab` alone opens the conversation front end: what a person sees every time.
        defaultSubcommand: Talk.self
    )
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed: speech recognition, language model, speech synthesis.",
        subcommands: [BenchASR.self, BenchLLM.self, BenchTTS.self]
    )
}

/// Every command ends the same way on a user-facing error: one line on stderr, exit 1.
func fail(_ error: Error) -> ExitCode {
    let text = String(describing: error)
    FileHandle.standardError.write(Data("confab: \(text)\n".utf8))
    return ExitCode(1)
}
