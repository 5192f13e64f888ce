import Cluster
import Engine
import Foundation
import Testing
@testable import WireProtocol
@testable import Workers

@Suite struct TransportTests {
    static func socketPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tessera-test-\(getpid())-\(name).sock").path
    }

    @Test func endpointsParseAndPrint() throws {
        #expect(try Endpoint(parsing: "unix:/tmp/a.sock") == .unix(path: "/tmp/a.sock"))
        #expect(try Endpoint(parsing: "tcp:10.0.0.2:7001") == .tcp(host: "10.0.0.2", port: 7001))
        #expect(try Endpoint(parsing: "tcp:10.0.0.2:7001").description == "tcp:10.0.0.2:7001")
        for bad in ["", "unix:", "tcp:host", "tcp::80", "tcp:h:99999", "http://x"] {
            #expect(throws: TransportError.badEndpoint(bad)) { try Endpoint(parsing: bad) }
        }
    }

    /// Messages and binary payloads arrive intact and in order, over a Unix socket and over TCP.
    @Test(arguments: ["unix", "tcp"])
    func framesRoundTrip(kind: String) throws {
        let endpoint: Endpoint = kind == "unix" ? .unix(path: Self.socketPath("frames")) : .tcp(host: "127.0.0.1", port: 0)
        let listener = try Listener(endpoint: endpoint)
        defer { listener.close() }
        let accepted = AsyncChannelBox()
        listener.start(name: "test") { accepted.put($0) }
        let client = try Connection.connect(to: listener.endpoint)
        let server = try #require(accepted.take())
        let payload = Data((0 ..< 100_000).map { UInt8($0 % 251) })
        try client.send(.pull(handle: 7, sharedMemory: false))
        try client.send(.kvMissing(handle: 9), payload: payload)
        guard case let (.pull(handle, shm), first) = try server.receive() else { Issue.record("wrong message"); return }
        #expect(handle == 7 && !shm && first.isEmpty)
        guard case let (.kvMissing(h2), second) = try server.receive() else { Issue.record("wrong message"); return }
        #expect(h2 == 9 && second == payload)
        client.close()
        #expect(throws: TransportError.closed) { try server.receive() }
    }

    /// Sending never waits for the peer: frames far beyond the socket buffers queue up while the
    /// peer reads nothing (a blocking send would hang this test), then arrive intact and in order.
    @Test(.timeLimit(.minutes(1))) func sendsToAPeerThatIsNotReadingReturnAtOnce() throws {
        let listener = try Listener(endpoint: .unix(path: Self.socketPath("stalled")))
        defer { listener.close() }
        let accepted = AsyncChannelBox()
        listener.start(name: "test") { accepted.put($0) }
        let client = try Connection.connect(to: listener.endpoint)
        let server = try #require(accepted.take())
        let payload = Data((0 ..< 1 << 20).map { UInt8($0 % 253) })
        for handle in 0 ..< 16 { try client.send(.kvMissing(handle: handle), payload: payload) }
        for handle in 0 ..< 16 {
            guard case let (.kvMissing(got), bytes) = try server.receive() else { Issue.record("wrong message"); return }
            #expect(got == handle && bytes == payload)
        }
        // Once closed, a send says so instead of queueing.
        client.close()
        #expect(client.isClosed)
        #expect(throws: TransportError.closed) { try client.send(.kvMissing(handle: 0)) }
    }

    /// A write that fails (the peer is gone) closes the connection, so its reader learns it.
    @Test func aFailedWriteClosesTheConnection() async throws {
        let listener = try Listener(endpoint: .unix(path: Self.socketPath("gone")))
        defer { listener.close() }
        let accepted = AsyncChannelBox()
        listener.start(name: "test") { accepted.put($0) }
        let client = try Connection.connect(to: listener.endpoint)
        try #require(accepted.take()).close()
        for _ in 0 ..< 100 where !client.isClosed {
            try? client.send(.kvMissing(handle: 1), payload: Data(count: 1 << 16))
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(client.isClosed)
    }

    /// A peer (of this run: it knows the secret) that sends garbage gets a typed error, not a crash.
    @Test func malformedFramesAreErrors() throws {
        let listener = try Listener(endpoint: .unix(path: Self.socketPath("garbage")))
        defer { listener.close() }
        let accepted = AsyncChannelBox()
        listener.start(name: "test") { accepted.put($0) }
        let raw = try Socket.connect(to: listener.endpoint)
        try PeerSecret.present(on: raw)
        let server = try #require(accepted.take())
        var header = Data([0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0])
        header.append(contentsOf: Array("{bad}".utf8))
        try header.withUnsafeBytes { try raw.writeAll($0) }
        #expect(throws: TransportError.self) { try server.receive() }
        let huge = Data([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0])
        try huge.withUnsafeBytes { try raw.writeAll($0) }
        #expect(throws: TransportError.frameTooLarge(Int(UInt32.max))) { try server.receive() }
    }
}

/// Hands one accepted connection from the listener thread to the test.
final class AsyncChannelBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Connection] = []

    func put(_ connection: Connection) {
        condition.lock()
        items.append(connection)
        condition.signal()
        condition.unlock()
    }

    func take(timeout: Double = 5) -> Connection? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while items.isEmpty, condition.wait(until: deadline) {}
        return items.isEmpty ? nil : items.removeFirst()
    }
}
