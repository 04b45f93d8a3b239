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

/// OpenBLAS reads its settings once, when the library is loaded (before `main`). Its worker threads spin for
/// about 0.1 s after every multi-threaded call unless OPENBLAS_THREAD_TIMEOUT says otherwise: on two cores that
/// takes the CPU from the language model between two synthesis calls, and from the audio threads where they
/// cannot run at real-time priority. So Confab sets it and starts itself again (exec: the same process, no child)
/// when it is not set.
enum OpenBLASEnvironment {
    static func ensure() {
        guard getenv("OPENBLAS_THREAD_TIMEOUT") == nil else { return }
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)     // the shortest OpenBLAS allows: workers sleep at once
        let args = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // exec failed (no /proc?): go on with OpenBLAS's own default.
        for p in argv { free(p) }
    }
}

struct Confab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "confab",
        abstract: "A local voice assistant for the terminal: speech → transcript → reply → speech, all on this machine.",
        subcommands: [
            Talk.self, Devices.self, Play.self, Record.self,
            Converse.self, Transcribe.self, Dictate.self, Chat.self, Ask.self, Say.self,
            Models.self, Bench.self,
        ],
        // `confab` alone opens the conversation front end: what a person sees every time.
        defaultSubcommand: Talk.self
    )
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed: speech recognition, language model, speech synthesis, and end-to-end latency.",
        subcommands: [BenchASR.self, BenchLLM.self, BenchTTS.self, BenchE2E.self]
    )
}

/// Every command ends the same way on a user-facing error: one line on stderr, exit 1.
func fail(_ error: Error) -> ExitCode {
    let text = String(describing: error)
    FileHandle.standardError.write(Data("confab: \(text)\n".utf8))
    return ExitCode(1)
}
