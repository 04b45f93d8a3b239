import ArgumentParser

// PLACEHOLDER owned by the speech-synthesis work: replace this file with the real command.
struct Say: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "say", abstract: "(not built yet)")
    func run() throws { throw ValidationError("`confab say` is not built yet") }
}
