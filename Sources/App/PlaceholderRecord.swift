import ArgumentParser

// PLACEHOLDER owned by the audio work: replace this file with the real command.
struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "record", abstract: "(not built yet)")
    func run() throws { throw ValidationError("`confab record` is not built yet") }
}
