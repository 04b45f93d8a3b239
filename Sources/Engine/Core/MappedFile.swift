import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory-mapped file. Model weights are read in place from the page cache,
/// so a model costs no private memory beyond what the engine converts at load time.
/// A file's bytes already in memory (the parsers' fuzz targets) go through the same parsers via `init(copying:path:)`.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeRawPointer
    public let count: Int
    private let mapped: Bool

    /// The file, kept open while it is mapped: what the fault guard asks when a page of it cannot be read.
    private let descriptor: Int32
    private let size: Int
    private let device: UInt
    private let inode: UInt
    private let modified: timespec

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ModelFileError(path: path, problem: String(cString: strerror(errno))) }
        var keep = false
        defer { if !keep { close(fd) } }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ModelFileError(path: path, problem: "cannot stat") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw ModelFileError(path: path, problem: "is a directory, not a file") }
        let size = Int(st.st_size)
        guard size > 0 else { throw ModelFileError(path: path, problem: "file is empty") }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw ModelFileError(path: path, problem: "cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
        count = size
        mapped = true
        keep = true
        descriptor = fd
        self.size = size
        device = UInt(st.st_dev); inode = UInt(st.st_ino); modified = st.st_mtim
        MappedFileGuard.register(base: base, count: size, descriptor: fd, path: path)
    }

    /// How the file on disk differs from what was mapped: nil while it is the same file, same size, unmodified.
    /// Truncating or overwriting a mapped file in place changes the weights under a running model (and a page
    /// beyond the new end cannot be read at all: SIGBUS, see `MappedFileGuard`); replacing it (a new file renamed
    /// over the path) leaves the mapped one intact, and is reported only so the user knows a restart loads it.
    public func changeOnDisk() -> ModelFileError? {
        guard mapped else { return nil }
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { return nil }
        if Int(st.st_size) < size {
            return ModelFileError(path: path, problem: "the model file was truncated while in use (\(st.st_size) of \(size) bytes left)")
        }
        if Int(st.st_size) != size || st.st_mtim.tv_sec != modified.tv_sec || st.st_mtim.tv_nsec != modified.tv_nsec {
            return ModelFileError(path: path, problem: "the model file was overwritten while in use")
        }
        var now = stat()
        if stat(path, &now) != 0 {
            return ModelFileError(path: path, problem: "the model file was removed while in use (the loaded copy goes on working)")
        }
        if UInt(now.st_dev) != device || UInt(now.st_ino) != inode {
            return ModelFileError(path: path, problem: "the model file was replaced while in use (the loaded copy goes on working; restart to use the new one)")
        }
        return nil
    }

    /// A private copy of `bytes`, read as if it were the file at `path` (which names it in errors).
    public init(copying bytes: UnsafeRawBufferPointer, path: String) throws {
        self.path = path
        guard bytes.count > 0 else { throw ModelFileError(path: path, problem: "file is empty") }
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
        p.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        base = UnsafeRawPointer(p)
        count = bytes.count
        mapped = false
        descriptor = -1; size = bytes.count; device = 0; inode = 0; modified = timespec()
    }

    deinit {
        if mapped {
            MappedFileGuard.unregister(base: base)
            munmap(UnsafeMutableRawPointer(mutating: base), count)
            close(descriptor)
        } else {
            base.deallocate()
        }
    }

    /// Bytes of the file as a buffer (no copy).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}

/// A model file that is missing, truncated or malformed. Prints as one line naming the file.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String
    public init(path: String, problem: String) { self.path = path; self.problem = problem }
    public var description: String { "\(path): \(problem)" }
}

/// Model weights are read in place from their mapped files, so a model file truncated while Confab runs (a copy or a
/// download over it, `truncate`, a full disk during a rewrite) makes the next read of a page past its new end a
/// SIGBUS, which would kill the process with a crash report and the terminal left raw. This guard catches a SIGBUS
/// whose address lies in a mapped model file and turns it into one line naming the file and what happened, after
/// `emergencyCleanup` (the terminal front end gives the terminal back there), and exit status 1. Any other SIGBUS
/// goes on to the handler that was there before.
///
/// The handler makes only async-signal-safe calls: it reads a fixed table of the mapped ranges (each with its open
/// descriptor, to tell truncated from overwritten with fstat), writes, and `_exit`s.
public enum MappedFileGuard {
    struct Entry {
        var base: UInt = 0
        var end: UInt = 0
        var descriptor: Int32 = -1
        var size: Int = 0
        var path: UnsafeMutablePointer<CChar>?
    }
    static let capacity = 256
    nonisolated(unsafe) static let table: UnsafeMutablePointer<Entry> = {
        let t = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
        t.initialize(repeating: Entry(), count: capacity)
        return t
    }()
    static let lock = NSLock()
    nonisolated(unsafe) static var previous = sigaction()
    nonisolated(unsafe) static var installed = false

    /// Called from the signal handler before the message (async-signal-safe code only): the terminal front end
    /// restores the terminal here.
    nonisolated(unsafe) public static var emergencyCleanup: (@convention(c) () -> Void)?

    static func register(base: UnsafeRawPointer, count: Int, descriptor: Int32, path: String) {
        lock.withLock {
            _ = table; _ = emergencyCleanup    // initialized here, never first in the signal handler
            for i in 0..<capacity where table[i].end == 0 {
                table[i].path = strdup(path)
                table[i].descriptor = descriptor
                table[i].size = count
                table[i].base = UInt(bitPattern: base)
                table[i].end = UInt(bitPattern: base) + UInt(count)
                break
            }
            installLocked()
        }
    }

    static func unregister(base: UnsafeRawPointer) {
        lock.withLock {
            for i in 0..<capacity where table[i].base == UInt(bitPattern: base) && table[i].end != 0 {
                table[i].end = 0
                table[i].base = 0
                free(table[i].path); table[i].path = nil
                table[i].descriptor = -1
            }
        }
    }

    /// The mapped model file holding `address`, if any.
    public static func path(containing address: UnsafeRawPointer) -> String? {
        lock.withLock {
            let a = UInt(bitPattern: address)
            for i in 0..<capacity where table[i].base <= a && a < table[i].end {
                return table[i].path.map { String(cString: $0) }
            }
            return nil
        }
    }

    /// Puts the guard's handler in place again if something replaced it (the terminal front end restores the
    /// handlers it found when it closes). No-op when nothing is mapped.
    public static func reinstate() {
        lock.withLock {
            var any = false
            for i in 0..<capacity where table[i].end != 0 { any = true; break }
            guard any else { return }
            var current = sigaction()
            sigaction(SIGBUS, nil, &current)
            if current.sa_flags & SA_SIGINFO != 0,
               unsafeBitCast(current.__sigaction_handler.sa_sigaction, to: UnsafeRawPointer?.self) == unsafeBitCast(handler, to: UnsafeRawPointer?.self) {
                return
            }
            installed = false
            installLocked()
        }
    }

    private static func installLocked() {
        guard !installed else { return }
        installed = true
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = handler
        action.sa_flags = SA_SIGINFO
        sigemptyset(&action.sa_mask)
        sigaction(SIGBUS, &action, &previous)
    }

    nonisolated(unsafe) private static let handler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = { sig, info, _ in
        let address = UInt(bitPattern: info?.pointee._sifields._sigfault.si_addr)
        var hit = -1
        for i in 0..<MappedFileGuard.capacity {
            let e = MappedFileGuard.table[i]
            if e.end != 0 && e.base <= address && address < e.end { hit = i; break }
        }
        guard hit >= 0 else {
            // Not a model file: whatever handled SIGBUS before (the runtime's crash report) takes it; the faulting
            // access runs again on return and lands there.
            sigaction(SIGBUS, &MappedFileGuard.previous, nil)
            return
        }
        MappedFileGuard.emergencyCleanup?()
        let e = MappedFileGuard.table[hit]
        var st = stat()
        let truncated = fstat(e.descriptor, &st) == 0 && Int(st.st_size) < e.size
        func say(_ s: StaticString) { _ = write(2, s.utf8Start, s.utf8CodeUnitCount) }
        say("confab: ")
        if let p = e.path { _ = write(2, p, strlen(p)) }
        if truncated {
            say(": the model file was truncated while in use (a page of its weights is gone): stopped; restore the file or reinstall the model (`confab models install`), then start again\n")
        } else {
            say(": the model file could not be read while in use (changed or on a failing disk): stopped; check the file, then start again\n")
        }
        _exit(1)
    }
}
