import ArgumentParser

// PLACEHOLDER owned by the audio work: replace this file with the real command.
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices", abstract: "(not built yet)")
    func run() throws { throw ValidationError("`confab devices` is not built yet") }
}
