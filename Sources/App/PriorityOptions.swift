import ArgumentParser
import Engine

/// Scheduling priority for the commands that hold a conversation (`@OptionGroup var priority: PriorityOptions`).
struct PriorityOptions: ParsableArguments {
    @Flag(help: "Keep normal priority (default: nice \(ProcessPriority.wanted) where granted: root, CAP_SYS_NICE or RLIMIT_NICE).")
    var normalPriority = false

    /// Raises the threads unless `--normal-priority`; what came of it (for `-v` and benchmark headers).
    func apply() -> ProcessPriority.Outcome {
        normalPriority ? .notGranted(reason: "--normal-priority") : ProcessPriority.raise()
    }
}
