import Engine
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Raising the threads' priority: done where the system grants it (this test process as root, as in CI, or with an
/// RLIMIT_NICE that allows it), never lowering a thread, inherited by the threads a raised thread makes, and reported
/// as not granted (nothing changed) elsewhere.
final class ProcessPriorityTests: XCTestCase {
    /// A thread that waits until released; its kernel id, and (from inside it) the nice of a thread it starts.
    final class Parked: @unchecked Sendable {
        let ready = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        var tid: id_t = 0
        var childNice: Int32 = 99
        init(spawnChildAfterRelease: Bool) {
            let t = Thread { [self] in
                tid = Self.currentThreadID()
                ready.signal()
                release.wait()
                if spawnChildAfterRelease {
                    let childDone = DispatchSemaphore(value: 0)
                    let child = Thread { [self] in
                        errno = 0
                        childNice = getpriority(Int32(PRIO_PROCESS.rawValue), Self.currentThreadID())
                        childDone.signal()
                    }
                    child.start()
                    childDone.wait()
                }
                done.signal()
            }
            t.start()
            ready.wait()
        }
        /// The kernel's id of the calling thread (/proc/thread-self is "PID/task/TID").
        static func currentThreadID() -> id_t {
            let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""
            return id_t(link.split(separator: "/").last ?? "") ?? 0
        }
        var nice: Int32 { getpriority(Int32(PRIO_PROCESS.rawValue), tid) }
        func finish() { release.signal(); done.wait() }
    }

    func testRaisesWhereGrantedNeverLowersAndIsInherited() {
        let granted = geteuid() == 0 || ProcessPriority.niceFloor() <= -5
        let a = Parked(spawnChildAfterRelease: true), b = Parked(spawnChildAfterRelease: false)
        XCTAssertEqual(a.nice, 0)
        // b already runs above the target: left as it is.
        if granted { XCTAssertEqual(setpriority(Int32(PRIO_PROCESS.rawValue), b.tid, -7), 0) }
        let outcome = ProcessPriority.raise(to: -5, threads: [a.tid, b.tid])
        if granted {
            XCTAssertEqual(outcome, .raised(nice: -7))
            XCTAssertEqual(a.nice, -5)
            XCTAssertEqual(b.nice, -7)
        } else {
            XCTAssertEqual(outcome, .notGranted(reason: "raising priority needs CAP_SYS_NICE or an RLIMIT_NICE above 20"))
            XCTAssertEqual(a.nice, 0)
        }
        a.finish(); b.finish()
        XCTAssertEqual(a.childNice, granted ? -5 : 0, "a thread started by a raised thread inherits its nice")
        XCTAssertTrue(outcome.description.hasPrefix(granted ? "nice -7" : "normal ("), outcome.description)

        // libdispatch starts its workers at their QoS's nice, not the creator's: the engine's work raises its own
        // thread to what was granted (here -5), or leaves it as it is where nothing was.
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var before: Int32 = 99, after: Int32 = 99
        DispatchQueue.global(qos: .utility).async {
            let me = Parked.currentThreadID()
            before = getpriority(Int32(PRIO_PROCESS.rawValue), me)
            ProcessPriority.raiseCurrentThread()
            after = getpriority(Int32(PRIO_PROCESS.rawValue), me)
            done.signal()
        }
        done.wait()
        XCTAssertEqual(after, granted ? min(before, -5) : before, "before \(before)")
    }
}
