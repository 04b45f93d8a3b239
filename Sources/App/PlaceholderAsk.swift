import ArgumentParser

// PLACEHOLDER owned by the language-model work: replace this file with the real command.
struct Ask: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ask", abstract: "(not built yet)")
    func run() throws { throw ValidationError("`confab ask` is not built yet") }
}
