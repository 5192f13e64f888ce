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

/// The worker's transfer endpoint: it serves parked KV to decode workers that pull it (P→D) and
/// encoder outputs to prefill workers (E→P), pushes parked KV to a decode worker unasked (push
/// hand-off), and keeps KV pushed to this worker in its ``KVInbox``.
///
/// Over a Unix socket the bytes go through a shared-memory segment (the socket carries only its
/// name); over TCP they are the frame's payload. What was sent stays pinned until the receiver
/// confirms (`pulled`, `pulledFeatures`), or until the timeout passes without a confirmation.
final class TransferServer: Sendable {
    private let engine: LLMEngine
    private let listener: Listener
    private let counters: TransferCounters
    private let parkedTimeout: Double
    private let features: FeatureStore?
    /// When each parked handle was announced, and its shared-memory name once pulled through one.
    private let parked = Mutex<[Int: (since: ContinuousClock.Instant, segment: String?)]>([:])
    private let segmentCounter = Atomic<Int>(0)
    private let inbox = KVInbox()

    init(engine: LLMEngine, listener: Listener, counters: TransferCounters, parkedTimeout: Double, features: FeatureStore? = nil) {
        self.features = features
        self.engine = engine
        self.listener = listener
        self.counters = counters
        self.parkedTimeout = parkedTimeout
    }

    /// Where peers pull from.
    var endpoint: Endpoint { listener.endpoint }

    func start() {
        listener.start(name: "tessera-transfer-listener") { [self] connection in
            connection.startReading(name: "tessera-transfer-peer", onMessage: { [self] message, payload in
                switch message {
                case let .pull(handle, sharedMemory): serve(handle, sharedMemory: sharedMemory && listener.endpoint.isLocal, on: connection)
                case let .pulled(handle): release(handle)
                case let .pullFeatures(ids, sharedMemory): serveFeatures(ids, sharedMemory: sharedMemory && listener.endpoint.isLocal, on: connection)
                case let .pulledFeatures(ids): features?.release(ids)
                case let .pushedKV(source, header): receivePushed(source, header, payload, on: connection)
                default: break
                }
            }, onClose: { _ in })
        }
    }

    /// Starts the clock on a newly parked KV.
    func announce(_ handle: Int) {
        parked.withLock { $0[handle] = (ContinuousClock.now, nil) }
    }

    /// Frees a parked KV and its shared-memory segment, if any.
    func release(_ handle: Int) {
        let entry = parked.withLock { $0.removeValue(forKey: handle) }
        if let segment = entry?.segment { SharedMemory.unlink(name: segment) }
        engine.releaseParkedKV(handle)
    }

    /// Releases parked KV no decode worker confirmed in time.
    func expire() {
        let now = ContinuousClock.now
        let stale = parked.withLock { $0.filter { now - $0.value.since > .seconds(parkedTimeout) }.map(\.key) }
        stale.forEach(release)
        features?.expire()
        inbox.expire(olderThan: .seconds(parkedTimeout))
    }

    func close() {
        listener.close()
        for handle in parked.withLock({ Array($0.keys) }) { release(handle) }
    }

    private func serveFeatures(_ ids: [ImageID], sharedMemory: Bool, on connection: Connection) {
        let (found, missing) = features?.lookup(ids) ?? ([], ids)
        let byteCount = found.reduce(0) { $0 + $1.features.count * MemoryLayout<Float>.size }
        var header = FeaturesHeader(items: found.map { .init(imageID: $0.imageID, rows: $0.rows, cols: $0.cols) },
                                    missing: missing, byteCount: byteCount, sharedMemoryName: nil)
        let fill = { (base: UnsafeMutableRawPointer) in
            var offset = 0
            for image in found {
                image.features.withUnsafeBytes { (base + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                offset += image.features.count * MemoryLayout<Float>.size
            }
            return true
        }
        do {
            if sharedMemory, byteCount > 0 {
                let name = "/tessera-fe-\(getpid())-\(segmentCounter.add(1, ordering: .relaxed).newValue)"
                _ = try SharedMemory.create(name: name, byteCount: byteCount, fill: fill)
                // The receiver maps the segment and unlinks its name.
                header.sharedMemoryName = name
                try connection.send(.features(header))
            } else {
                var payload = Data(count: byteCount)
                if byteCount > 0 { _ = payload.withUnsafeMutableBytes { fill($0.baseAddress!) } }
                try connection.send(.features(header), payload: payload)
            }
            counters.sent(byteCount)
        } catch {
            connection.close()
        }
    }

    private func serve(_ handle: Int, sharedMemory: Bool, on connection: Connection) {
        guard let (header, payload) = pack(handle, sharedMemory: sharedMemory) else {
            try? connection.send(.kvMissing(handle: handle))
            return
        }
        do {
            try connection.send(.kv(handle: handle, header), payload: payload)
            counters.sent(header.byteCount)
        } catch {
            connection.close()
        }
    }

    /// Push hand-off: sends a parked KV to the decode worker at `destination` on a thread of its
    /// own and frees it once the receiver confirms. If the push fails the KV stays parked, so the
    /// decode worker can still pull it (or the timeout frees it).
    func push(_ handle: Int, to destination: Endpoint, via client: TransferClient) {
        Thread.detachNewThread { [self] in
            guard let (header, payload) = pack(handle, sharedMemory: client.usesSharedMemory(with: destination)) else { return }
            let source = KVSource(endpoint: endpoint, handle: handle)
            guard (try? client.push(.pushedKV(source: source, header), payload: payload, to: destination)) != nil else {
                if let name = header.sharedMemoryName {
                    parked.withLock { $0[handle]?.segment = nil }
                    SharedMemory.unlink(name: name)
                }
                return
            }
            counters.sent(header.byteCount)
            release(handle)
        }
    }

    /// The KV pushed here from `source`, waiting up to `timeout` for it; nil when it does not come.
    func takePushed(_ source: KVSource, timeout: Duration) async -> KVBuffer? {
        let start = ContinuousClock.now
        guard let buffer = await inbox.take(source, timeout: timeout) else { return nil }
        // What the decode side waited for, as a pull's round trip counts.
        counters.received(buffer.byteCount, seconds: (ContinuousClock.now - start).seconds)
        return buffer
    }

    private func receivePushed(_ source: KVSource, _ header: KVHeader, _ payload: Data, on connection: Connection) {
        do {
            inbox.put(try TransferClient.kvBuffer(header, payload: payload, layout: engine.kvLayout), from: source)
            try connection.send(.pulled(handle: source.handle))
        } catch {
            connection.close()
        }
    }

    /// A parked KV as a transfer frame's header and payload: the bytes in a new shared-memory
    /// segment (released with the handle) or in the payload. Nil when the handle is gone.
    private func pack(_ handle: Int, sharedMemory: Bool) -> (KVHeader, Data)? {
        guard let positions = engine.parkedPositions(handle) else { return nil }
        let layout = engine.kvLayout
        let mropeDelta = engine.parkedPrompt(handle)?.mropeDelta
        let byteCount = layout.byteCount(positions: positions.count)
        if sharedMemory {
            let name = "/tessera-kv-\(getpid())-\(segmentCounter.add(1, ordering: .relaxed).newValue)"
            guard (try? SharedMemory.create(name: name, byteCount: byteCount, fill: { engine.copyParkedKV(handle, to: $0) })) == true else {
                SharedMemory.unlink(name: name)
                return nil
            }
            parked.withLock { $0[handle]?.segment = name }
            return (KVHeader(layout: layout, positions: positions.count, byteCount: byteCount, sharedMemoryName: name, mropeDelta: mropeDelta), Data())
        }
        var payload = Data(count: byteCount)
        guard payload.withUnsafeMutableBytes({ engine.copyParkedKV(handle, to: $0.baseAddress!) }) else { return nil }
        return (KVHeader(layout: layout, positions: positions.count, byteCount: byteCount, sharedMemoryName: nil, mropeDelta: mropeDelta), payload)
    }
}
