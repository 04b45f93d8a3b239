import Atomics
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C / SIGTERM as a stop request that an audio command polls, so it can silence the device at once
/// and leave the terminal clean instead of dying mid-line. A second signal ends the process the
/// default way (in case the program is stuck).
public enum Interrupts {
    private static let received = ManagedAtomic<Int32>(0)

    public static func install() {
        _ = received.load(ordering: .relaxed)   // initialize the global before any handler can run
        let handler: @convention(c) (Int32) -> Void = { sig in
            if Interrupts.received.exchange(sig, ordering: .relaxed) != 0 {
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
    }

    /// The signal that asked to stop, if any.
    public static var pending: Int32? {
        let s = received.load(ordering: .relaxed)
        return s == 0 ? nil : s
    }
}
