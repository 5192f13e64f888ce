#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A blocking stream socket (Unix-domain or TCP): enough for framed messages between processes.
/// Each side reads on one thread and writes from its connection's serial writer queue (see ``Connection``).
final class Socket: @unchecked Sendable {
    let fd: Int32

    /// How long a write may wait for a peer that stopped reading (a hung or stopped process) before
    /// it fails: the connection then closes and the peer counts as lost, instead of its writer
    /// queue holding the frames for good.
    static let sendTimeoutSeconds = 30

    init(fd: Int32) {
        self.fd = fd
        var timeout = timeval(tv_sec: Self.sendTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Binds and listens; the returned endpoint has the real port when `port` was 0.
    static func listen(on endpoint: Endpoint) throws(TransportError) -> (Socket, Endpoint) {
        switch endpoint {
        case let .unix(path):
            unlink(path)
            let socket = try Socket(fd: make(AF_UNIX))
            try withUnixAddress(path) { address, length throws(TransportError) in
                guard bind(socket.fd, address, length) == 0 else { throw .system(call: "bind \(path)", errno: errno) }
            }
            guard Glibc.listen(socket.fd, 128) == 0 else { throw .system(call: "listen", errno: errno) }
            return (socket, endpoint)
        case let .tcp(host, port):
            let socket = try Socket(fd: make(AF_INET))
            var one: Int32 = 1
            setsockopt(socket.fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = try inetAddress(host, port)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw .system(call: "bind \(host):\(port)", errno: errno) }
            guard Glibc.listen(socket.fd, 128) == 0 else { throw .system(call: "listen", errno: errno) }
            var actual = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &actual) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket.fd, $0, &length) }
            }
            return (socket, .tcp(host: host, port: Int(UInt16(bigEndian: actual.sin_port))))
        }
    }

    static func connect(to endpoint: Endpoint) throws(TransportError) -> Socket {
        switch endpoint {
        case let .unix(path):
            let socket = try Socket(fd: make(AF_UNIX))
            try withUnixAddress(path) { address, length throws(TransportError) in
                guard Glibc.connect(socket.fd, address, length) == 0 else { throw .system(call: "connect \(path)", errno: errno) }
            }
            return socket
        case let .tcp(host, port):
            let socket = try Socket(fd: make(AF_INET))
            var address = try inetAddress(host, port)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw .system(call: "connect \(host):\(port)", errno: errno) }
            var one: Int32 = 1
            setsockopt(socket.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return socket
        }
    }

    /// Waits for the next peer; throws once the listener is shut down.
    func accept() throws(TransportError) -> Socket {
        while true {
            let peer = Glibc.accept(fd, nil, nil)
            if peer >= 0 {
                var one: Int32 = 1
                setsockopt(peer, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return Socket(fd: peer)
            }
            if errno == EINTR { continue }
            throw .system(call: "accept", errno: errno)
        }
    }

    func writeAll(_ bytes: UnsafeRawBufferPointer) throws(TransportError) {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(call: "send", errno: errno)
            }
            offset += n
        }
    }

    /// Fills `bytes` completely; throws `.closed` at end of stream.
    func readAll(_ bytes: UnsafeMutableRawBufferPointer) throws(TransportError) {
        var offset = 0
        while offset < bytes.count {
            let n = recv(fd, bytes.baseAddress! + offset, bytes.count - offset, 0)
            if n == 0 { throw .closed }
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(call: "recv", errno: errno)
            }
            offset += n
        }
    }

    /// Wakes a thread blocked in `accept` or `recv` on this socket; the peer sees end of stream.
    func shutdownBoth() { Glibc.shutdown(fd, Int32(SHUT_RDWR)) }

    private static func make(_ family: Int32) throws(TransportError) -> Int32 {
        let fd = Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(call: "socket", errno: errno) }
        return fd
    }

    private static func withUnixAddress(
        _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws(TransportError) -> Void
    ) throws(TransportError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw .badEndpoint("unix:\(path) (path longer than \(capacity - 1) bytes)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        try withUnsafePointer(to: &address) { pointer throws(TransportError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(TransportError) in
                try body(address, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    private static func inetAddress(_ host: String, _ port: Int) throws(TransportError) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        let name = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, name, &address.sin_addr) == 1 else { throw .badEndpoint("tcp:\(host):\(port) (an IPv4 address is needed)") }
        return address
    }
}
