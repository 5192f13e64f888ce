import CoreUtilities
import Diffusion
import Foundation
import Models
import Synchronization
import Tensor
import WireProtocol

/// A ControlNet run by a `controlnet` worker (Katz/SwiftDiffusion §ControlNet-as-a-Service): each
/// step the diffusion worker sends the row's latents, timestep, text conditioning and the control
/// image, runs the UNet's down pass meanwhile, and waits for the residuals before its up pass.
///
/// ```swift
/// let service = try ControlNetServiceConnection(endpoint: controlNetWorker)
/// let request = ControlNetRequest(controlNet: RemoteControlNet(name: "canny", service: service), image: edges)
/// ```
public struct RemoteControlNet: ControlNetRunner {
    public let name: String
    public let service: ControlNetServiceConnection
    public var conditioningChannels: Int { 3 }

    public init(name: String, service: ControlNetServiceConnection) {
        self.name = name
        self.service = service
    }

    public func startResiduals(_ row: DenoiserInput, condition: FeatureMap, scale: Float) throws(DiffusionError)
        -> @Sendable () throws(DiffusionError) -> ControlResiduals {
        try service.startResiduals(name, row, condition: condition, scale: scale)
    }
}

/// A connection from a diffusion worker to a `controlnet` worker.
public final class ControlNetServiceConnection: @unchecked Sendable {
    private let peer: PeerCalls

    public init(endpoint: Endpoint) throws(TransportError) {
        peer = try PeerCalls(endpoint: endpoint, name: "tessera-controlnet-client")
    }

    public var isClosed: Bool { peer.isClosed }

    public func close() { peer.close() }

    func startResiduals(_ name: String, _ row: DenoiserInput, condition: FeatureMap, scale: Float) throws(DiffusionError)
        -> @Sendable () throws(DiffusionError) -> ControlResiduals {
        let header = WireControlCall(controlNet: name, scale: scale, row: row.wireRow, imageHeight: condition.height, imageWidth: condition.width)
        let image = Array(UnsafeBufferPointer(start: condition.pixels.data, count: condition.pixels.count))
        let wait: @Sendable () -> Result<(WireMessage, Data), PeerCallError>
        do {
            wait = try peer.call(payload: WireFloats.pack(row.wireFloats + [image])) { .controlResiduals(call: $0, header) }
        } catch {
            throw .invalidArgument("ControlNet service: \(error)")
        }
        return { () throws(DiffusionError) -> ControlResiduals in
            do {
                let (message, payload) = try wait().get()
                guard case let .controlResidualsReady(_, shapes) = message else {
                    if case let .controlResidualsFailed(_, reason) = message { throw PeerCallError(reason) }
                    throw PeerCallError("unexpected answer \(message)")
                }
                return try ControlResiduals(wireShapes: shapes, floats: WireFloats.unpack(payload, counts: shapes.map { $0.reduce(1, *) }))
            } catch {
                throw .invalidArgument("ControlNet service '\(name)': \(error)")
            }
        }
    }
}

/// The ControlNets a `controlnet` worker keeps loaded: by name from its registry, the least
/// recently (or, with `--adapter-cache-eviction lfu`, frequently) used evicted first when the next
/// one would pass the memory budget (K resident = as many as the budget holds; Katz keeps the
/// top-K popular ControlNets resident, by LRU or LFU). A ControlNet in use is pinned.
final class ResidentControlNets: Sendable {
    let registry: [String: URL]
    private let cache: Mutex<LRUCache<String, ControlNetModel>>
    private let counters = Mutex<(loads: Int, hits: Int)>((0, 0))

    init(registry: [String: URL], budgetBytes: Int, eviction: CacheEviction = .lru) {
        self.registry = registry
        cache = Mutex(LRUCache(budget: budgetBytes, eviction: eviction))
    }

    /// Runs `body` with the ControlNet `name`, loading it first when it is not resident.
    func with<T>(_ name: String, _ body: (ControlNetModel) throws -> T) throws -> T {
        guard let folder = registry[name] else {
            throw PeerCallError("no ControlNet '\(name)' is registered here (\(registry.keys.sorted().joined(separator: ", ")))")
        }
        let model: ControlNetModel
        if let resident = cache.withLock({ $0.acquire(name) }) {
            counters.withLock { $0.hits += 1 }
            model = resident
        } else {
            let loaded = try ControlNetModel(directory: folder)
            counters.withLock { $0.loads += 1 }
            // Inserted pinned for this call (another call may have loaded it meanwhile: then that one is pinned).
            model = cache.withLock { c in
                c.insert(name, loaded, cost: Self.bytes(of: folder))
                return c.pin(name).map { pinned in
                    c.release(name)
                    return pinned
                } ?? loaded
            }
        }
        defer { cache.withLock { $0.release(name) } }
        return try body(model)
    }

    /// Loads (misses) and hits so far.
    var statistics: (loads: Int, hits: Int) { counters.withLock { $0 } }

    /// A ControlNet's weight files' size: what it holds in memory as float32 on disk.
    static func bytes(of folder: URL) -> Int {
        let files = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: [.fileSizeKey])) ?? []
        return files.filter { $0.pathExtension == "safetensors" || $0.pathExtension == "bin" }
            .reduce(0) { $0 + ((try? $1.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0) }
    }

    /// Answers one `controlResiduals` call.
    func answer(_ call: Int, _ header: WireControlCall, _ payload: Data, on connection: Connection) {
        do {
            let row = header.row
            let arrays = try WireFloats.unpack(payload, counts: row.floatCounts + [header.imageHeight * header.imageWidth * 3])
            let input = DenoiserInput(row, sample: arrays[0], hidden: arrays[1])
            let image = FeatureMap(height: header.imageHeight, width: header.imageWidth, channels: 3)
            arrays[2].withUnsafeBufferPointer { image.pixels.data.update(from: $0.baseAddress!, count: $0.count) }
            let residuals = try with(header.controlNet) { try $0.residuals(input, condition: image, scale: header.scale) }
            try connection.send(.controlResidualsReady(call: call, shapes: residuals.wireShapes), payload: WireFloats.pack(residuals.wireFloats))
        } catch {
            try? connection.send(.controlResidualsFailed(call: call, "\(error)"))
        }
    }
}
