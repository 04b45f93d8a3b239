import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT, SIGTERM and SIGHUP set a flag instead of killing the process, so a command can stop what it is doing,
/// keep what was said (the session log, the last dictated utterance) and leave cleanly. The exit status is then the
/// shell's for that signal (128 + its number), with one line saying which signal stopped it.
///
/// While `loading` names a phase (the models are loading: nothing to keep yet), a signal ends the process at once
/// with that line instead of waiting for a load that can take seconds.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var signalNumber: Int32 = 0
    private var loadingPhase: String?
    private var sources: [DispatchSourceSignal] = []
    var isSet: Bool { lock.withLock { signalNumber != 0 } }
    /// The signal that asked to stop, if any.
    var signal: Int32? { lock.withLock { signalNumber == 0 ? nil : signalNumber } }

    static let handled = [SIGINT, SIGTERM, SIGHUP]

    static func install(loading: String? = nil) -> StopFlag {
        let f = StopFlag()
        f.loadingPhase = loading
        for sig in handled {
            Glibc.signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                let (phase, again) = f.lock.withLock { () -> (String?, Bool) in
                    let again = f.signalNumber != 0
                    if !again { f.signalNumber = sig }
                    return (f.loadingPhase, again)
                }
                if again {
                    // A second signal while the first one's clean stop is still under way: at once.
                    printErr("confab: stopped by \(signalName(sig)) (a second signal: at once)")
                    _exit(128 + sig)
                }
                if let phase {
                    printErr("confab: stopped by \(signalName(sig)) while \(phase)")
                    _exit(128 + sig)
                }
            }
            s.resume()
            f.sources.append(s)
        }
        return f
    }

    /// The models are loaded: from now on a signal only sets the flag. A signal that came during the last load is
    /// acted on now.
    func loaded() {
        let (phase, sig) = lock.withLock { () -> (String?, Int32) in defer { loadingPhase = nil }; return (loadingPhase, signalNumber) }
        if let phase, sig != 0 {
            printErr("confab: stopped by \(signalName(sig)) while \(phase)")
            _exit(128 + sig)
        }
    }

    /// After a clean stop: the line that says which signal it was, and the exit status for it (nil: no signal).
    func exitCode(saying what: String = "") -> ExitCodeValue? {
        guard let sig = signal else { return nil }
        printErr("confab: stopped by \(signalName(sig))\(what)")
        return 128 + sig
    }
    typealias ExitCodeValue = Int32
}

/// "SIGTERM".
func signalName(_ sig: Int32) -> String {
    switch sig {
    case SIGINT: return "SIGINT"
    case SIGTERM: return "SIGTERM"
    case SIGHUP: return "SIGHUP"
    default: return "signal \(sig)"
    }
}
