#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a worker or the front end listens: a Unix-domain socket on this host, or a TCP address.
///
/// Written as `unix:/path/to.sock` or `tcp:HOST:PORT` on command lines and in messages.
///
/// ```swift
/// let endpoint = try Endpoint(parsing: "tcp:10.0.0.2:7001")
/// print(endpoint)   // tcp:10.0.0.2:7001
/// ```
public enum Endpoint: Sendable, Hashable, CustomStringConvertible, Codable {
    case unix(path: String)
    case tcp(host: String, port: Int)

    public init(parsing text: String) throws(TransportError) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw .badEndpoint(text) }
            self = .unix(path: path)
        } else if text.hasPrefix("tcp:") {
            let rest = text.dropFirst(4)
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
                  (0 ... 65535).contains(port), colon != rest.startIndex else { throw .badEndpoint(text) }
            self = .tcp(host: String(rest[..<colon]), port: port)
        } else {
            throw .badEndpoint(text)
        }
    }

    public var description: String {
        switch self {
        case let .unix(path): "unix:\(path)"
        case let .tcp(host, port): "tcp:\(host):\(port)"
        }
    }

    /// True for Unix-domain sockets: the peer shares this host, so bulk bytes can go through shared memory.
    public var isLocal: Bool {
        if case .unix = self { true } else { false }
    }
}

/// Why a connection, listener or transfer failed.
public enum TransportError: Error, CustomStringConvertible, Equatable {
    case badEndpoint(String)
    case system(call: String, errno: Int32)
    case closed
    case frameTooLarge(Int)
    case malformedMessage(String)
    case sharedMemory(String)

    public var description: String {
        switch self {
        case let .badEndpoint(text): "'\(text)' is not an endpoint; use unix:/path or tcp:HOST:PORT"
        case let .system(call, code): "\(call) failed: \(String(cString: strerror(code)))"
        case .closed: "the connection is closed"
        case let .frameTooLarge(size): "a frame of \(size) bytes exceeds the limit"
        case let .malformedMessage(detail): "malformed message: \(detail)"
        case let .sharedMemory(detail): "shared memory: \(detail)"
        }
    }
}
