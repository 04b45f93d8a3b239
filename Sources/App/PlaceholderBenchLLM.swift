import ArgumentParser

// PLACEHOLDER owned by the language-model work: replace this file with the real command.
struct BenchLLM: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "llm", abstract: "(not built yet)")
    func run() throws { throw ValidationError("`confab llm` is not built yet") }
}
