import ArgumentParser
import Engine
import Foundation

@main
enum Main {
    static func main() async {
        OpenBLASEnvironment.ensure()
        await Confab.main()
    }
}

/// OpenBLAS reads its settings once, when the library is loaded (before `main`): when one Confab wants is not
/// set (`OpenBLASSettings`: no spinning workers; kernels that use the CPU's AVX-512 or AVX2), Confab sets it
/// and starts itself again (exec: the same process, no child).
enum OpenBLASEnvironment {
    static func ensure() {
        let missing = OpenBLASSettings.missing()
        guard !missing.isEmpty else { return }
        for (name, value) in missing { setenv(name, value, 1) }
        let args = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // exec failed (no /proc?): go on with OpenBLAS's own choices.
        for p in argv { free(p) }
    }
}

/// `confab environment`: the settings `confab` gives itself, as shell exports, for other processes that load the
/// engine (the test suite: `eval "$(confab environment)"`).
struct EnvironmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "environment",
        abstract: "Print the OpenBLAS settings confab sets for itself, as shell exports.",
        shouldDisplay: false
    )
    func run() {
        // By now `ensure()` has set them in this process: print the values in effect.
        let env = ProcessInfo.processInfo.environment
        for name in ["OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_CORETYPE"] {
            if let v = env[name] { print("export \(name)=\(v)") }
        }
        print("# OpenBLAS kernels in use: \(OpenBLASSettings.chosenCore)")
    }
}

struct Confab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "confab",
        abstract: "A local voice assistant for the terminal: speech → transcript → reply → speech, all on this machine.",
        subcommands: [
            Talk.self, Devices.self, Play.self, Record.self,
            Converse.self, Transcribe.self, Dictate.self, Chat.self, Ask.self, Say.self,
            Models.self, Bench.self, ServeCommand.self, EnvironmentCommand.self,
        ],
        // `confab` alone opens the conversation front end: what a person sees every time.
        defaultSubcommand: Talk.self
    )
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed (speech recognition, language model, speech synthesis, end-to-end latency) and right answers.",
        subcommands: [BenchASR.self, BenchLLM.self, BenchTTS.self, BenchE2E.self, BenchAnswers.self, BenchWake.self]
    )
}

/// Every command ends the same way on a user-facing error: one line on stderr, exit 1.
func fail(_ error: Error) -> ExitCode {
    let text = String(describing: error)
    FileHandle.standardError.write(Data("confab: \(text)\n".utf8))
    return ExitCode(1)
}
