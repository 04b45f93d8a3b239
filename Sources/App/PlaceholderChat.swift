import ArgumentParser

// PLACEHOLDER owned by the language-model work: replace this file with the real command.
struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat", abstract: "(not built yet)")
    func run() throws { throw ValidationError("`confab chat` is not built yet") }
}
