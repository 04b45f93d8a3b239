import Atomics
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A conversation is work someone is waiting for: on a 2-core machine that also runs a build, Confab's threads at the
/// same priority as four CPU-bound processes get a third of the CPU, and a reply starts three times later.
///
/// Where the system grants it (root, CAP_SYS_NICE, or an `RLIMIT_NICE` from limits.conf or rtkit, as desktop audio
/// servers get), every thread of the process is raised to nice `wanted` (or as far towards it as allowed); threads made
/// later inherit it from the thread that makes them. Where it is not granted nothing changes. The audio threads
/// are SCHED_FIFO where `RLIMIT_RTPRIO` allows (see `startAudioThread`), above any nice value.
public enum ProcessPriority {
    /// The nice value asked for: that of desktop audio servers' threads under rtkit (PipeWire asks for -11).
    public static let wanted: Int32 = -10

    /// The nice value `raise()` obtained for the process (Int.max: none).
    private static let granted = ManagedAtomic<Int>(Int.max)

    /// Raises the calling thread to the nice value `raise()` obtained, if it did and the thread is below it. For the
    /// threads that do a turn's work but were not made by a raised thread: libdispatch sets the nice value of its
    /// worker threads by their QoS when it starts them (0 for default), so the engine's queues, its
    /// `concurrentPerform` workers and the tasks recognizing speech call this before their work. A system call
    /// or two.
    @inline(__always)
    public static func raiseCurrentThread() {
        let nice = granted.load(ordering: .relaxed)
        guard nice != Int.max else { return }
        errno = 0
        let now = getpriority(Int32(PRIO_PROCESS.rawValue), 0)
        if errno == 0 && Int(now) > nice { _ = setpriority(Int32(PRIO_PROCESS.rawValue), 0, Int32(nice)) }
    }

    /// What `raise()` obtained.
    public enum Outcome: Equatable, Sendable, CustomStringConvertible {
        case raised(nice: Int32)
        case notGranted(reason: String)
        public var description: String {
            switch self {
            case .raised(let n): "nice \(n)"
            case .notGranted(let r): "normal (\(r))"
            }
        }
    }

    /// The nice value `RLIMIT_NICE` lets this process go down to without privilege (20 − the limit; 0 when unset).
    public static func niceFloor() -> Int32 {
        var lim = rlimit()
        guard getrlimit(Int32(__RLIMIT_NICE.rawValue), &lim) == 0 else { return 0 }
        if lim.rlim_cur == rlim_t.max { return -20 }   // RLIM_INFINITY
        return 20 - Int32(clamping: min(lim.rlim_cur, 40))
    }

    /// Raises every thread of this process to nice `target` where permitted (never lowers a thread's priority).
    @discardableResult
    /// - Parameter threads: the kernel thread ids to raise (default: every thread of the process).
    public static func raise(to target: Int32 = wanted, threads: [id_t]? = nil) -> Outcome {
        let floor = geteuid() == 0 ? target : max(target, niceFloor())
        // Try even when the limit says no: CAP_SYS_NICE grants it too.
        let ids = threads ?? ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []).compactMap { id_t($0) }
        var best: Int32? = nil
        for id in ids {
            errno = 0
            let now = getpriority(Int32(PRIO_PROCESS.rawValue), id)
            if errno != 0 { continue }
            let goal = now <= target ? now : target
            if setpriority(Int32(PRIO_PROCESS.rawValue), id, goal) == 0 {
                best = min(best ?? goal, goal)
            } else if floor < now, setpriority(Int32(PRIO_PROCESS.rawValue), id, floor) == 0 {
                best = min(best ?? floor, floor)
            }
        }
        if let best, best < 0 {
            granted.store(Int(max(best, target)), ordering: .relaxed)
            return .raised(nice: best)
        }
        return .notGranted(reason: "raising priority needs CAP_SYS_NICE or an RLIMIT_NICE above 20")
    }
}
