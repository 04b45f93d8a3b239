import Foundation

/// Set when the request a piece of work belongs to is gone (its client went away): the work stops at its next check.
public final class CancelToken: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    public init() {}
    public func cancel() { lock.withLock { flag = true } }
    public var isCancelled: Bool { lock.withLock { flag } }
}

/// One model's work, one request at a time on its own thread, with a bounded line of waiting requests:
/// past `maxWaiting`, a request is refused at once (429) instead of piling up.
public final class ModelQueue<Model: AnyObject & Sendable>: @unchecked Sendable {
    public let name: String
    public let model: Model
    public let maxWaiting: Int
    private let queue: DispatchQueue
    private let lock = NSLock()
    private var inside = 0        // running + waiting

    public init(name: String, model: Model, maxWaiting: Int) {
        self.name = name; self.model = model; self.maxWaiting = max(0, maxWaiting)
        queue = DispatchQueue(label: "confab.serve.\(name)", qos: .userInitiated)
    }

    public var load: Int { lock.withLock { inside } }

    /// Runs `work` on the model's thread once the requests before it are done. Throws `APIError.busy` when the
    /// line is full, `CancellationError` when the calling task was cancelled before its turn came.
    public func run<T: Sendable>(_ token: CancelToken = CancelToken(),
                                 _ work: @escaping @Sendable (Model, CancelToken) throws -> T) async throws -> T {
        let admitted = lock.withLock { () -> Bool in
            guard inside <= maxWaiting else { return false }
            inside += 1
            return true
        }
        guard admitted else { throw APIError.busy(name, waiting: maxWaiting) }
        let model = self.model
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
                queue.async { [self] in
                    defer { lock.withLock { inside -= 1 } }
                    if token.isCancelled { c.resume(throwing: CancellationError()); return }
                    do { c.resume(returning: try work(model, token)) } catch { c.resume(throwing: error) }
                }
            }
        } onCancel: {
            token.cancel()
        }
    }

    /// Starts `work` in line like `run`, but returns at once (after admission): for responses that stream
    /// while the work runs. `done` is called on the model's thread when the work ends or fails.
    public func start(_ token: CancelToken, _ work: @escaping @Sendable (Model, CancelToken) throws -> Void,
                      done: @escaping @Sendable (Error?) -> Void) throws {
        let admitted = lock.withLock { () -> Bool in
            guard inside <= maxWaiting else { return false }
            inside += 1
            return true
        }
        guard admitted else { throw APIError.busy(name, waiting: maxWaiting) }
        let model = self.model
        queue.async { [self] in
            defer { lock.withLock { inside -= 1 } }
            if token.isCancelled { done(CancellationError()); return }
            do { try work(model, token); done(nil) } catch { done(error) }
        }
    }
}
