import ArgumentParser

// PLACEHOLDER owned by the speech-recognition work: replace this file with the real command.
struct BenchASR: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "asr", abstract: "(not built yet)")
    func run() throws { throw ValidationError("`confab asr` is not built yet") }
}
