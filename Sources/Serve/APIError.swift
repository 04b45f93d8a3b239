import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error in OpenAI's JSON shape: `{"error": {"message", "type", "param", "code"}}`, with its HTTP status.
public struct APIError: HTTPResponseError, CustomStringConvertible, Sendable {
    public let status: HTTPResponse.Status
    public let message: String
    public let type: String
    public let param: String?
    public let code: String?

    public init(_ status: HTTPResponse.Status, _ message: String, type: String = "invalid_request_error",
                param: String? = nil, code: String? = nil) {
        self.status = status; self.message = message; self.type = type; self.param = param; self.code = code
    }

    public var description: String { "\(status.code) \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response { plainResponse }

    var plainResponse: Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if status == .tooManyRequests { headers[.retryAfter] = "1" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: body)))
    }

    var body: Data {
        let o: [String: Any] = ["error": ["message": message, "type": type,
                                          "param": param ?? NSNull(), "code": code ?? NSNull()] as [String: Any]]
        return (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data()
    }

    // The common ones.
    static func invalid(_ message: String, param: String? = nil) -> APIError {
        APIError(.badRequest, message, param: param)
    }
    static func unknownModel(_ name: String, kind: String, known: [String]) -> APIError {
        APIError(.notFound, "The model '\(name)' does not exist here (\(kind) models: \(known.joined(separator: ", ")))",
                 param: "model", code: "model_not_found")
    }
    static func busy(_ model: String, waiting: Int) -> APIError {
        APIError(.tooManyRequests, "Model '\(model)' is busy: \(waiting) requests are already waiting; try again shortly",
                 type: "rate_limit_error", code: "queue_full")
    }
    static let unauthorized = APIError(.unauthorized, "Incorrect or missing API key: send 'Authorization: Bearer <key>'",
                                       type: "invalid_request_error", code: "invalid_api_key")
    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, "The request body is larger than \(formatSize(limit))", code: "request_too_large")
    }
    static func mediaType(_ got: String?, want: String) -> APIError {
        APIError(.unsupportedMediaType, "Content-Type must be \(want) (got \(got.map { "'\($0)'" } ?? "none"))")
    }
    static func internalError(_ what: String) -> APIError {
        APIError(.internalServerError, what, type: "server_error")
    }
}

func formatSize(_ bytes: Int) -> String {
    bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : bytes >= 1 << 10 ? "\(bytes >> 10) KiB" : "\(bytes) bytes"
}

/// Any error a handler or Hummingbird throws becomes an OpenAI-shaped one (route not found, body too large…).
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            throw e
        } catch let e as HTTPError {
            switch e.status {
            case .notFound: throw APIError(.notFound, "No route \(request.method) \(request.uri.path)", code: "unknown_url")
            case .contentTooLarge: throw APIError(.contentTooLarge, "The request body is too large", code: "request_too_large")
            case .methodNotAllowed: throw APIError(.methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path)")
            default: throw APIError(e.status, e.body ?? e.status.reasonPhrase)
            }
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "The request body is too large", code: "request_too_large")
        } catch is CancellationError {
            throw APIError(HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"), "The client went away")
        } catch {
            throw APIError.internalError("\(error)")
        }
    }
}

/// With `--api-key`: every /v1 request carries `Authorization: Bearer <key>`.
struct BearerKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: String
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1") else { return try await next(request, context) }
        let given = request.headers[.authorization] ?? ""
        let expected = "Bearer " + key
        // Compared in full whatever the first difference (no early exit to time).
        var diff = given.utf8.count ^ expected.utf8.count
        for (a, b) in zip(given.utf8, expected.utf8) { diff |= Int(a ^ b) }
        guard diff == 0 else { throw APIError.unauthorized }
        return try await next(request, context)
    }
}

/// One line per request on stderr, written when its response has been sent (or has failed).
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let log: @Sendable (String) -> Void
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let t0 = ContinuousClock.now
        let what = "\(request.method) \(request.uri.path)"
        let log = self.log
        @Sendable func ms() -> String { let d = ContinuousClock.now - t0; return String(format: "%.0f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000) }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let e as APIError {
            log("\(what) \(e.status.code) \(ms()): \(e.message)")
            throw e
        } catch {
            log("\(what) failed \(ms()): \(error)")
            throw error
        }
        let status = response.status.code
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            do {
                try await body.write(writer)
                log("\(what) \(status) \(ms())")
            } catch {
                log("\(what) \(status) \(ms()): the response broke off (\(error is CancellationError ? "the client went away" : "\(error)"))")
                throw error
            }
        }
        return response
    }
}
