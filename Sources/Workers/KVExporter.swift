#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Engine
import Foundation
import Synchronization

/// The prefill side of P→D transfers: serves pulls of parked KV on the worker's transfer endpoint.
///
/// Over a Unix socket the bytes go through a shared-memory segment (the socket carries only its
/// name); over TCP they are the reply's payload. The parked blocks stay pinned until the decode
/// side confirms with `pulled`, or until `parkedTimeout` passes without a confirmation.
final class KVExporter: Sendable {
    private let engine: LLMEngine
    private let listener: Listener
    private let counters: TransferCounters
    private let parkedTimeout: Double
    /// When each parked handle was announced, and its shared-memory name once pulled through one.
    private let parked = Mutex<[Int: (since: ContinuousClock.Instant, segment: String?)]>([:])
    private let segmentCounter = Atomic<Int>(0)

    init(engine: LLMEngine, listener: Listener, counters: TransferCounters, parkedTimeout: Double) {
        self.engine = engine
        self.listener = listener
        self.counters = counters
        self.parkedTimeout = parkedTimeout
    }

    /// Where peers pull from.
    var endpoint: Endpoint { listener.endpoint }

    func start() {
        listener.start(name: "tessera-kv-listener") { [self] connection in
            connection.startReading(name: "tessera-kv-peer", onMessage: { [self] message, _ in
                switch message {
                case let .pull(handle, sharedMemory): serve(handle, sharedMemory: sharedMemory && listener.endpoint.isLocal, on: connection)
                case let .pulled(handle): release(handle)
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
    }

    func close() {
        listener.close()
        for handle in parked.withLock({ Array($0.keys) }) { release(handle) }
    }

    private func serve(_ handle: Int, sharedMemory: Bool, on connection: Connection) {
        guard let positions = engine.parkedPositions(handle) else {
            try? connection.send(.kvMissing(handle: handle))
            return
        }
        let layout = engine.kvLayout
        let byteCount = layout.byteCount(positions: positions.count)
        do {
            if sharedMemory {
                let name = "/tessera-kv-\(getpid())-\(segmentCounter.add(1, ordering: .relaxed).newValue)"
                guard try SharedMemory.create(name: name, byteCount: byteCount, fill: { engine.copyParkedKV(handle, to: $0) }) else {
                    SharedMemory.unlink(name: name)
                    try connection.send(.kvMissing(handle: handle))
                    return
                }
                parked.withLock { $0[handle]?.segment = name }
                try connection.send(.kv(handle: handle, KVHeader(layout: layout, positions: positions.count, byteCount: byteCount, sharedMemoryName: name)))
            } else {
                var payload = Data(count: byteCount)
                let copied = payload.withUnsafeMutableBytes { engine.copyParkedKV(handle, to: $0.baseAddress!) }
                guard copied else {
                    try connection.send(.kvMissing(handle: handle))
                    return
                }
                try connection.send(.kv(handle: handle, KVHeader(layout: layout, positions: positions.count, byteCount: byteCount, sharedMemoryName: nil)), payload: payload)
            }
            counters.sent(byteCount)
        } catch {
            connection.close()
        }
    }
}
