import Foundation
import Synchronization
import WireProtocol

/// Calls from one diffusion worker to a peer (a CFG-split peer, a `controlnet` worker) over one
/// connection: each call is a message carrying its id, answered by a message with the same id; a
/// closed connection fails the calls still waiting.
///
/// ```swift
/// let peer = try PeerCalls(endpoint: endpoint, name: "tessera-guidance-peer")
/// let wait = try peer.call(payload: rows) { .predictNoise(call: $0, header) }
/// let (answer, payload) = try wait().get()
/// ```
final class PeerCalls: @unchecked Sendable {
    let endpoint: Endpoint
    private let connection: Connection
    private let calls = Mutex<Calls>(Calls())

    private struct Calls {
        var next = 0
        var waiting: [Int: Call] = [:]
        var closed = false
    }

    final class Call: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var answer: Result<(WireMessage, Data), PeerCallError> = .failure(PeerCallError("no answer"))
    }

    init(endpoint: Endpoint, name: String) throws(TransportError) {
        self.endpoint = endpoint
        connection = try Connection.connect(to: endpoint)
        connection.startReading(name: name, onMessage: { [weak self] message, payload in
            self?.answer(message, payload)
        }, onClose: { [weak self] error in
            self?.failAll("the peer at \(endpoint) went away: \(error)")
        })
    }

    var isClosed: Bool { connection.isClosed }

    func close() { connection.close() }

    /// Sends `message(id)` with `payload` and returns the wait for its answer.
    func call(payload: Data, _ message: (Int) -> WireMessage) throws(PeerCallError) -> @Sendable () -> Result<(WireMessage, Data), PeerCallError> {
        let call = Call()
        let id = calls.withLock { c -> Int? in
            guard !c.closed else { return nil }
            defer { c.next += 1 }
            c.waiting[c.next] = call
            return c.next
        }
        guard let id else { throw PeerCallError("the peer at \(endpoint) is gone") }
        do { try connection.send(message(id), payload: payload) } catch {
            calls.withLock { _ = $0.waiting.removeValue(forKey: id) }
            throw PeerCallError("cannot reach the peer at \(endpoint): \(error)")
        }
        return {
            call.done.wait()
            return call.answer
        }
    }

    /// Sends `message`, which has no answer.
    func send(_ message: WireMessage) throws(PeerCallError) {
        do { try connection.send(message) } catch {
            throw PeerCallError("cannot reach the peer at \(endpoint): \(error)")
        }
    }

    private func answer(_ message: WireMessage, _ payload: Data) {
        let id: Int
        switch message {
        case let .predictedNoise(call, _), let .predictNoiseFailed(call, _), let .controlResidualsReady(call, _), let .controlResidualsFailed(call, _):
            id = call
        default: return
        }
        guard let call = calls.withLock({ $0.waiting.removeValue(forKey: id) }) else { return }
        call.answer = .success((message, payload))
        call.done.signal()
    }

    private func failAll(_ reason: String) {
        let waiting = calls.withLock { c in
            c.closed = true
            defer { c.waiting = [:] }
            return Array(c.waiting.values)
        }
        for call in waiting {
            call.answer = .failure(PeerCallError(reason))
            call.done.signal()
        }
    }
}

struct PeerCallError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

