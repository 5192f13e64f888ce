import Foundation
import Testing
@testable import WireProtocol

/// Worker ports refuse peers that do not present the run's secret.
@Suite struct PeerSecretTests {
    @Test func aPeerWithoutTheSecretIsDropped() throws {
        let listener = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
        defer { listener.close() }
        let accepted = AsyncChannelBox()
        listener.start(name: "test") { accepted.put($0) }

        // A frame straight away, as an old or foreign client would send: dropped, never handed on.
        let stranger = try Socket.connect(to: listener.endpoint)
        let frame = Array("TSEC".utf8) + [0, 5] + Array("guess".utf8)
        try frame.withUnsafeBytes { try stranger.writeAll($0) }
        #expect(accepted.take(timeout: 1) == nil)
        var byte = [UInt8](repeating: 0, count: 1)
        #expect(throws: TransportError.self) { try byte.withUnsafeMutableBytes { try stranger.readAll($0) } }

        // One that says nothing is dropped after the handshake time.
        let silent = try Socket.connect(to: listener.endpoint)
        #expect(throws: TransportError.self) { try byte.withUnsafeMutableBytes { try silent.readAll($0) } }

        // The run's own connections get through.
        let client = try Connection.connect(to: listener.endpoint)
        let server = try #require(accepted.take())
        try client.send(.abort(request: 3))
        guard case (.abort(3), _) = try server.receive() else { Issue.record("wrong message"); return }
    }

    @Test func theSecretReachesStartedProcessesThroughTheEnvironment() {
        let secret = String(decoding: PeerSecret.current, as: UTF8.self)
        #expect(secret.count >= 32)
        #expect(ProcessInfo.processInfo.environment[PeerSecret.variable] == secret)
    }
}
