#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The secret every connection between the front end and its workers (and between workers) opens
/// with: a listener drops a peer that does not send it within a few seconds, so a process that can
/// reach a worker's port or socket but was not started by this run cannot drive it.
///
/// It comes from `TESSERA_WORKER_SECRET`; a front end without one draws 32 random bytes and puts
/// them in its own environment, which the worker processes it starts inherit (never on a command
/// line, where `ps` would show it).
///
/// Handshake: `TSEC`, a 2-byte big-endian length, then the secret's bytes.
public enum PeerSecret {
    static let variable = "TESSERA_WORKER_SECRET"
    static let magic = Array("TSEC".utf8)
    /// How long an accepted peer has to send the secret.
    static let handshakeSeconds = 5

    /// This process's secret; drawn and exported on first use when the environment has none.
    public static let current: [UInt8] = {
        if let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty { return Array(value.utf8) }
        var bytes = [UInt8](repeating: 0, count: 32)
        for i in bytes.indices { bytes[i] = UInt8.random(in: .min ... .max) }
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        setenv(variable, hex, 1)
        return Array(hex.utf8)
    }()

    /// Sends the secret on a freshly connected socket.
    static func present(on socket: Socket) throws(TransportError) {
        let secret = current
        var frame = magic + [UInt8(secret.count >> 8), UInt8(secret.count & 0xFF)]
        frame += secret
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: frame.count, alignment: 1)
        defer { raw.deallocate() }
        raw.copyBytes(from: frame)
        try socket.writeAll(UnsafeRawBufferPointer(raw))
    }

    /// Reads and checks the secret on an accepted socket, within ``handshakeSeconds``.
    static func verify(on socket: Socket) -> Bool {
        var timeout = timeval(tv_sec: handshakeSeconds, tv_usec: 0)
        setsockopt(socket.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        defer {
            var none = timeval(tv_sec: 0, tv_usec: 0)
            setsockopt(socket.fd, SOL_SOCKET, SO_RCVTIMEO, &none, socklen_t(MemoryLayout<timeval>.size))
        }
        guard let head = read(6, from: socket), Array(head[0..<4]) == magic,
              let given = read(Int(head[4]) << 8 | Int(head[5]), from: socket) else { return false }
        // Compared in full whatever the first difference, so timing tells nothing.
        let expected = current
        var difference = UInt8(truncatingIfNeeded: expected.count ^ given.count)
        for i in 0..<max(expected.count, given.count) {
            difference |= (i < expected.count ? expected[i] : 0) ^ (i < given.count ? given[i] : 0)
        }
        return difference == 0
    }

    private static func read(_ count: Int, from socket: Socket) -> [UInt8]? {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { raw.deallocate() }
        do { try socket.readAll(raw) } catch { return nil }
        return Array(raw)
    }
}
