import ArgumentParser

// PLACEHOLDER owned by the audio work: replace this file with the real command.
struct Play: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "play", abstract: "(not built yet)")
    func run() throws { throw ValidationError("`confab play` is not built yet") }
}
