import ArgumentParser

// PLACEHOLDER owned by the speech-recognition work: replace this file with the real command.
struct Transcribe: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "transcribe", abstract: "(not built yet)")
    func run() throws { throw ValidationError("`confab transcribe` is not built yet") }
}
