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

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ModelFileError(path: path, problem: String(cString: strerror(errno))) }
        defer { close(fd) }
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
    }

    deinit {
        if mapped { munmap(UnsafeMutableRawPointer(mutating: base), count) } else { base.deallocate() }
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
