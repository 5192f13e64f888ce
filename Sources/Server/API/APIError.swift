import Foundation
import Hummingbird
import ServingAPI
import Logging

/// A failed API call, sent as an OpenAI error object:
/// `{"error": {"message": …, "type": …, "param": …, "code": …}}`.
///
/// ```swift
/// throw APIError.invalidRequest("temperature must be >= 0", param: "temperature")
/// ```
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    /// The OpenAI error family, e.g. `invalid_request_error`.
    public var type: String
    /// The request field at fault, when there is one.
    public var param: String?
    public var code: String?
    /// Seconds a client should wait before retrying (sent as `Retry-After`).
    public var retryAfterSeconds: Int?

    public init(
        status: HTTPResponse.Status, message: String, type: String, param: String? = nil, code: String? = nil,
        retryAfterSeconds: Int? = nil
    ) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    /// 400: the request is malformed or asks for something this server cannot do.
    public static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    /// 404: no model of that name is served here.
    public static func modelNotFound(_ name: String) -> APIError {
        APIError(
            status: .notFound, message: "The model '\(excerpt(name))' does not exist", type: "invalid_request_error",
            param: "model", code: "model_not_found")
    }

    /// A client's value as an error message quotes it: cut after 64 characters, so that a
    /// megabyte-long field is not sent back (nor logged) whole.
    static func excerpt(_ value: String) -> String {
        value.utf8.count <= 64 ? value : "\(value.prefix(64))… (\(value.utf8.count) bytes)"
    }

    /// 413: the body is over the server's limit.
    public static func bodyTooLarge(limit: Int) -> APIError {
        APIError(
            status: .contentTooLarge, message: "request body is larger than the limit of \(limit) bytes",
            type: "invalid_request_error", code: "request_too_large")
    }

    /// 503: the engine's queues are full, or it is shutting down.
    public static func unavailable(_ message: String, retryAfterSeconds: Int?) -> APIError {
        APIError(
            status: .serviceUnavailable, message: message, type: "service_unavailable_error",
            retryAfterSeconds: retryAfterSeconds)
    }

    /// 500: a fault inside the server; never caused by input. The detail (which may name workers'
    /// addresses, sockets or files) goes to the server's log under a reference the client gets.
    public static func internalError(_ detail: String) -> APIError {
        let reference = UInt32.random(in: .min ... .max)
        logger.error("internal error \(reference): \(detail)")
        return APIError(
            status: .internalServerError, message: "the server failed on this request (logged as internal error \(reference))",
            type: "server_error")
    }

    static let logger = Logger(label: "tessera.api")

    /// The JSON body, also used as the payload of an SSE `error` event.
    public var jsonBody: Data {
        let object: [String: Any] = [
            "error": [
                "message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull(),
            ] as [String: Any]
        ]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }
}

extension APIError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response { response }

    /// The error as an HTTP response: status, JSON body and `Retry-After` when set.
    var response: Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: jsonBody)))
    }
}

extension APIError {
    /// How an engine refusal reads to an API client.
    init(_ error: EngineError) {
        switch error {
        case let .overloaded(seconds):
            self = .unavailable(error.description, retryAfterSeconds: max(1, seconds))
        case let .invalidRequest(message):
            self = .invalidRequest(message)
        case let .contextLengthExceeded(message):
            self = .invalidRequest(message, param: "messages", code: "context_length_exceeded")
        case .shuttingDown:
            self = .unavailable(error.description, retryAfterSeconds: nil)
        case let .internalFailure(message):
            self = .internalError(message)
        }
    }
}
