#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CoreUtilities
import Engine
import Foundation
import ServingAPI
import Synchronization
import WireProtocol

/// The outgoing side of transfers: a decode worker pulls a request's parked KV from its prefill
/// worker when it takes the request (P→D), a prefill worker pulls encoder outputs from encode
/// workers (E→P) or pushes parked KV to a decode worker (push hand-off). One connection per peer;
/// each transfer is confirmed so the sender can unpin.
final class TransferClient: Sendable {
    private let counters: TransferCounters
    private let useSharedMemory: Bool
    /// One connection per peer endpoint; a transfer holds its connection's lock for the round trip.
    private let connections = Mutex<[Endpoint: PeerConnection]>([:])

    final class PeerConnection: Sendable {
        let connection: Connection
        let lock = Mutex(())
        init(_ connection: Connection) { self.connection = connection }
    }

    init(counters: TransferCounters, useSharedMemory: Bool) {
        self.counters = counters
        self.useSharedMemory = useSharedMemory
    }

    /// Fetches the KV of `source`, blocking until it arrives; throws when the prefill worker is
    /// gone or no longer holds it.
    func pull(_ source: KVSource, expecting layout: KVLayout) throws -> KVBuffer {
        let start = ContinuousClock.now
        let (peer, reply) = try roundTrip(.pull(handle: source.handle, sharedMemory: usesSharedMemory(with: source.endpoint)), to: source.endpoint)
        guard case let .kv(handle, header) = reply.0, handle == source.handle else {
            throw TransportError.malformedMessage("prefill worker \(source.endpoint) no longer holds KV \(source.handle)")
        }
        let buffer = try Self.kvBuffer(header, payload: reply.1, layout: layout)
        try? peer.connection.send(.pulled(handle: source.handle))
        counters.received(header.byteCount, seconds: (ContinuousClock.now - start).seconds)
        return buffer
    }

    /// Push hand-off: sends a parked KV (`pushedKV`) to a decode worker and blocks until it confirms.
    func push(_ message: WireMessage, payload: Data, to endpoint: Endpoint) throws {
        guard case let .pushedKV(source, _) = message else { throw TransportError.malformedMessage("\(message) is not a KV push") }
        let (_, reply) = try roundTrip(message, payload: payload, to: endpoint)
        guard case let .pulled(handle) = reply.0, handle == source.handle else {
            throw TransportError.malformedMessage("decode worker \(endpoint) did not confirm KV \(source.handle)")
        }
    }

    /// Whether transfers with `endpoint` go through shared memory.
    func usesSharedMemory(with endpoint: Endpoint) -> Bool { useSharedMemory && endpoint.isLocal }

    /// The KV a `kv` or `pushedKV` frame carries, mapped from its shared-memory segment or copied
    /// from the payload; throws when it does not fit `layout` or the frame is inconsistent.
    static func kvBuffer(_ header: KVHeader, payload: Data, layout: KVLayout) throws -> KVBuffer {
        guard header.layout == layout, header.byteCount == layout.byteCount(positions: header.positions) else {
            throw TransportError.malformedMessage(
                "KV of \(header.layout.layers) layers × \(header.layout.rowWidth) floats does not fit this model's \(layout.layers) × \(layout.rowWidth)")
        }
        if let name = header.sharedMemoryName {
            let base = try SharedMemory.map(name: name, byteCount: header.byteCount)
            let count = header.byteCount
            return KVBuffer(layout: layout, positions: 0 ..< header.positions, base: base, byteCount: count, mropeDelta: header.mropeDelta) {
                munmap(UnsafeMutableRawPointer(mutating: base), count)
            }
        }
        guard payload.count == header.byteCount else { throw TransportError.malformedMessage("KV payload of \(payload.count) bytes, header says \(header.byteCount)") }
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(1, header.byteCount), alignment: 64)
        payload.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return KVBuffer(layout: layout, positions: 0 ..< header.positions, base: memory, byteCount: header.byteCount, mropeDelta: header.mropeDelta) {
            memory.deallocate()
        }
    }

    /// Fetches encoder outputs from an encode worker and confirms them, so it unpins them.
    func pullFeatures(_ source: FeatureSource) throws -> [EncodedImage] {
        let start = ContinuousClock.now
        let (peer, reply) = try roundTrip(.pullFeatures(imageIDs: source.imageIDs, sharedMemory: usesSharedMemory(with: source.endpoint)), to: source.endpoint)
        guard case let .features(header) = reply.0, header.missing.isEmpty else {
            throw TransportError.malformedMessage("encode worker \(source.endpoint) no longer holds the features of \(source.imageIDs)")
        }
        let floats = header.items.reduce(0) { $0 + $1.rows * $1.cols }
        guard header.byteCount == floats * MemoryLayout<Float>.size else {
            throw TransportError.malformedMessage("features of \(header.byteCount) bytes do not match their shapes")
        }
        let images: [EncodedImage]
        if let name = header.sharedMemoryName {
            let base = try SharedMemory.map(name: name, byteCount: header.byteCount)
            SharedMemory.unlink(name: name)
            images = Self.split(header, UnsafeRawBufferPointer(start: base, count: header.byteCount))
            munmap(UnsafeMutableRawPointer(mutating: base), header.byteCount)
        } else {
            guard reply.1.count == header.byteCount else { throw TransportError.malformedMessage("features payload of \(reply.1.count) bytes, header says \(header.byteCount)") }
            images = reply.1.withUnsafeBytes { Self.split(header, $0) }
        }
        try? peer.connection.send(.pulledFeatures(imageIDs: source.imageIDs))
        counters.received(header.byteCount, seconds: (ContinuousClock.now - start).seconds)
        return images
    }

    private static func split(_ header: FeaturesHeader, _ bytes: UnsafeRawBufferPointer) -> [EncodedImage] {
        let floats = bytes.assumingMemoryBound(to: Float.self)
        var offset = 0
        return header.items.map { item in
            defer { offset += item.rows * item.cols }
            return EncodedImage(imageID: item.imageID, rows: item.rows, cols: item.cols,
                                features: Array(floats[offset ..< offset + item.rows * item.cols]))
        }
    }

    func closeAll() {
        for peer in connections.withLock({ Array($0.values) }) { peer.connection.close() }
    }

    /// Sends `message` to the peer at `endpoint` and waits for its reply. A connection kept from an
    /// earlier transfer may lead to a worker that has since died: its endpoint (a slot's Unix socket)
    /// is reused by the worker relaunched in its place, so a round trip that fails on a kept
    /// connection is tried once more on a fresh one before the transfer fails.
    private func roundTrip(_ message: WireMessage, payload: Data = Data(), to endpoint: Endpoint) throws -> (PeerConnection, (WireMessage, Data)) {
        for fresh in [false, true] {
            let (peer, kept) = try connection(to: endpoint)
            do {
                let reply = try peer.lock.withLock { _ in
                    try peer.connection.send(message, payload: payload)
                    return try peer.connection.receive()
                }
                return (peer, reply)
            } catch {
                drop(peer, at: endpoint)
                if fresh || !kept { throw error }
            }
        }
        preconditionFailure("the second round trip returns or throws")
    }

    /// The connection to `endpoint`, and whether it was kept from an earlier transfer.
    private func connection(to endpoint: Endpoint) throws(TransportError) -> (PeerConnection, kept: Bool) {
        if let existing = connections.withLock({ $0[endpoint] }) { return (existing, true) }
        let peer = PeerConnection(try Connection.connect(to: endpoint))
        return connections.withLock { map in
            if let raced = map[endpoint] {
                peer.connection.close()
                return (raced, true)
            }
            map[endpoint] = peer
            return (peer, false)
        }
    }

    /// Forgets a failed connection, unless another transfer already replaced it with a fresh one.
    private func drop(_ peer: PeerConnection, at endpoint: Endpoint) {
        connections.withLock { map in
            if map[endpoint] === peer { map[endpoint] = nil }
        }
        peer.connection.close()
    }
}
