import Foundation
import Synchronization

/// A framed, bidirectional message channel over a ``Socket``: each frame (``WireFrame``) is a
/// JSON-encoded ``WireMessage`` plus an optional binary payload (KV bytes on the TCP transfer path).
///
/// Sending never blocks the caller: frames go, in order, through the connection's own serial
/// writer queue, so a peer that stops reading (a stopped or hung process with a full socket buffer)
/// holds up only that queue, never a thread of Swift's cooperative pool. A write that fails closes
/// the connection, and its reader reports the peer gone.
///
/// ```swift
/// let connection = try Connection.connect(to: .unix(path: "/tmp/front.sock"))
/// try connection.send(.abort(request: 7))
/// connection.startReading(name: "control", onMessage: { message, payload in … }, onClose: { _ in … })
/// ```
public final class Connection: @unchecked Sendable {
    private let socket: Socket
    private let writer: DispatchQueue
    private let closed = Atomic<Bool>(false)

    init(socket: Socket) {
        self.socket = socket
        writer = DispatchQueue(label: "tessera.connection-writer")
    }

    /// Connects and presents this run's ``PeerSecret``.
    public static func connect(to endpoint: Endpoint) throws(TransportError) -> Connection {
        let socket = try Socket.connect(to: endpoint)
        try PeerSecret.present(on: socket)
        return Connection(socket: socket)
    }

    /// Queues one message for the peer and returns at once; safe from any thread, and frames keep
    /// the order of the calls. Throws only when the message cannot be encoded or the connection
    /// is already closed; a later write failure closes the connection instead.
    public func send(_ message: WireMessage, payload: Data = Data()) throws(TransportError) {
        guard !isClosed else { throw .closed }
        let frame = try WireFrame.encode(message, payloadCount: payload.count)
        writer.async { [self, frame] in
            guard !isClosed else { return }
            do {
                for part in [frame, payload] where !part.isEmpty {
                    try part.withUnsafeBytes { try socket.writeAll($0) }
                }
            } catch {
                close()
            }
        }
    }

    /// Whether ``close()`` was called or a write failed.
    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Blocks for the next message; throws `.closed` when the peer has gone.
    public func receive() throws -> (WireMessage, Data) {
        try WireFrame.read { try socket.readAll($0) }
    }

    /// Reads on a thread of its own until the peer goes away or a frame is malformed, then calls
    /// `onClose` once.
    public func startReading(
        name: String, onMessage: @escaping @Sendable (WireMessage, Data) -> Void,
        onClose: @escaping @Sendable (any Error) -> Void
    ) {
        let thread = Thread { [self] in
            while true {
                do {
                    let (message, payload) = try receive()
                    onMessage(message, payload)
                } catch {
                    close()
                    onClose(error)
                    return
                }
            }
        }
        thread.name = name
        thread.start()
    }

    /// Ends the connection once the frames queued so far have been written (``close()`` drops
    /// them); a peer that stopped reading holds it up, so callers that must end it close it too.
    public func closeAfterQueuedFrames() {
        writer.async { [self] in close() }
    }

    /// Ends the connection `timeout` from now, as a draining worker leaves: the frames queued by then
    /// (its drain notice, tokens already made) go first; a peer that stopped reading holds it up
    /// for 2 s at most.
    public func close(after timeout: Duration) {
        Task { [self] in
            try? await Task.sleep(for: timeout)
            closeAfterQueuedFrames()
            try? await Task.sleep(for: .seconds(2))
            close()
        }
    }

    /// Ends the connection in both directions: a blocked reader wakes up and reports `.closed`, a
    /// blocked write fails, and frames still queued are dropped.
    public func close() {
        closed.store(true, ordering: .releasing)
        socket.shutdownBoth()
    }
}

/// Accepts connections on an endpoint; each peer that presents this run's ``PeerSecret`` is handed
/// to `onConnection` (on a thread of its own, so a slow peer never holds up accepting), the others
/// are dropped.
public final class Listener: @unchecked Sendable {
    /// The bound endpoint (with the real port when port 0 was asked for).
    public let endpoint: Endpoint
    private let socket: Socket

    public init(endpoint: Endpoint) throws(TransportError) {
        // Drawn (and exported to the processes this one starts) before anyone can connect.
        _ = PeerSecret.current
        (socket, self.endpoint) = try Socket.listen(on: endpoint)
    }

    public func start(name: String, onConnection: @escaping @Sendable (Connection) -> Void) {
        let thread = Thread { [self] in
            while let peer = try? socket.accept() {
                Thread.detachNewThread {
                    guard PeerSecret.verify(on: peer) else { return peer.shutdownBoth() }
                    onConnection(Connection(socket: peer))
                }
            }
        }
        thread.name = name
        thread.start()
    }

    /// Stops accepting and removes a Unix socket's file.
    public func close() {
        socket.shutdownBoth()
        if case let .unix(path) = endpoint { unlink(path) }
    }
}
