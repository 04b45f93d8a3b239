import ArgumentParser

// PLACEHOLDER owned by the speech-synthesis work: replace this file with the real command.
struct BenchTTS: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tts", abstract: "(not built yet)")
    func run() throws { throw ValidationError("`confab tts` is not built yet") }
}
