import Diffusion
import Dispatch
import Foundation
import Models
import ServingAPI
import Tensor
import CoreUtilities

/// The LoRAs and ControlNets a server offers, registered by name at start (`--lora NAME=PATH`,
/// `--controlnet NAME=DIR`, or a folder scanned for both), and the memory cache that keeps loaded
/// ones ready (``AdapterCache``, a byte budget). Registration reads headers only, so a long tail of
/// adapters costs nothing until a request names one; loading then happens on the loader thread
/// (bounded asynchronous loading, Katz et al. §BAL) or, for ControlNets, at admission.
///
/// A scanned folder holds LoRAs as `NAME.safetensors` files and ControlNets as `NAME/` folders with
/// a diffusers `config.json` whose `_class_name` is `ControlNetModel`; anything else there is skipped.
///
/// ```swift
/// let registry = try AdapterRegistry(loras: ["watercolor": "/adapters/watercolor.safetensors"],
///                                    controlNets: ["canny": "/adapters/canny"], cacheBytes: 2 << 30)
/// registry.entries.map(\.name)            // ["watercolor", "canny"]
/// ```
public final class AdapterRegistry: @unchecked Sendable {
    /// One registered adapter.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let kind: AdapterKind
        /// The LoRA file or the ControlNet folder.
        public let path: String
    }

    /// Every registered adapter, LoRAs first, each kind by name.
    public let entries: [Entry]
    private let byName: [AdapterKind: [String: Entry]]
    public let cache: AdapterCache
    /// Where LoRA files are read and parsed off the denoising loop.
    private let loader = DispatchQueue(label: "tessera-lora-loader")
    private let lock = NSLock()
    private var inFlight: [String: PendingLoRA] = [:]
    /// The ControlNets images hold now, cached or not: one the cache's budget cannot keep is still
    /// loaded once for all the images running with it, not once each (gigabytes apiece at full size).
    private var heldControlNets: [String: WeakControlNet] = [:]

    /// An empty registry (no add-ons).
    public convenience init() {
        // An empty registry is always valid.
        try! self.init(loras: [:], controlNets: [:])
    }

    /// Registers `loras` (name → safetensors file), `controlNets` (name → diffusers folder) and
    /// what `directories` hold; a name given twice for one kind, a missing file or a folder that
    /// is not a ControlNet is an error naming it.
    public init(loras: [String: String], controlNets: [String: String], directories: [String] = [],
                cacheBytes: Int = 1 << 30, eviction: AdapterCache.Eviction = .lru) throws(DiffusionError) {
        var table: [AdapterKind: [String: Entry]] = [.lora: [:], .controlNet: [:]]
        func add(_ name: String, _ kind: AdapterKind, _ path: String) throws(DiffusionError) {
            guard !name.isEmpty, !name.contains("/") else {
                throw .invalidArgument("adapter name '\(name)' (of \(path)) must be non-empty and hold no '/'")
            }
            if let other = table[kind]![name] {
                throw .invalidArgument("two \(kind.rawValue)s are named '\(name)': \(other.path) and \(path)")
            }
            table[kind]![name] = Entry(name: name, kind: kind, path: path)
        }
        for (name, path) in loras.sorted(by: { $0.key < $1.key }) {
            try Self.checkLoRA(path)
            try add(name, .lora, path)
        }
        for (name, path) in controlNets.sorted(by: { $0.key < $1.key }) {
            guard Self.isControlNet(path) else {
                throw .invalidConfig(file: path, detail: "not a diffusers ControlNet folder (config.json with _class_name ControlNetModel)")
            }
            try add(name, .controlNet, path)
        }
        for directory in directories {
            let folder = URL(fileURLWithPath: directory)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { throw .missingFile(directory) }
            for name in names.sorted() {
                let path = folder.appendingPathComponent(name).path
                if name.hasSuffix(".safetensors") {
                    try Self.checkLoRA(path)
                    try add(String(name.dropLast(".safetensors".count)), .lora, path)
                } else if Self.isControlNet(path) {
                    try add(name, .controlNet, path)
                }
            }
        }
        byName = table
        entries = AdapterKind.allCases.flatMap { kind in table[kind]!.values.sorted { $0.name < $1.name } }
        cache = AdapterCache(budgetBytes: cacheBytes, eviction: eviction)
    }

    public func entry(_ kind: AdapterKind, named name: String) -> Entry? { byName[kind]?[name] }

    /// A LoRA file's safetensors header parses (its tensors are read when a request needs it).
    private static func checkLoRA(_ path: String) throws(DiffusionError) {
        guard FileManager.default.fileExists(atPath: path) else { throw .missingFile(path) }
        do { _ = try SafetensorsFile(url: URL(fileURLWithPath: path)) } catch { throw .invalidConfig(file: path, detail: "\(error)") }
    }

    private static func isControlNet(_ path: String) -> Bool {
        let config = URL(fileURLWithPath: path).appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: config),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return object["_class_name"] as? String == ControlNetModel.className
    }

    /// The cache's hit and miss counts for LoRAs and ControlNets.
    /// The names of the add-ons of `kind` held in memory now (a worker's heartbeat reports its LoRAs').
    public func cachedNames(_ kind: AdapterKind) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return cache.names(kind)
    }

    public func cacheCounters() -> (lora: AdapterCacheCounters, controlNet: AdapterCacheCounters) {
        lock.lock()
        defer { lock.unlock() }
        return (cache.counters[.lora]!, cache.counters[.controlNet]!)
    }

    /// Whether `entry` is loaded in memory now.
    public func isCached(_ entry: Entry) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return cache.contains(entry.kind, name: entry.name)
    }

    // MARK: Loading

    /// Holds LoRA loads back until `resumeLoading()` (what a slow disk or network does; tests use it
    /// to make a load late).
    func pauseLoading() { loader.suspend() }
    func resumeLoading() { loader.resume() }

    /// The LoRA `name` (registered): ready at once from the cache, else read and parsed on the
    /// loader thread; requests asking while it loads share the one load.
    public func loadLoRA(_ name: String) -> PendingLoRA {
        let entry = entry(.lora, named: name)!
        lock.lock()
        defer { lock.unlock() }
        if case let .lora(file)? = cache.value(for: .lora, name: name) { return PendingLoRA(ready: file) }
        if let pending = inFlight[name] { return pending }
        let pending = PendingLoRA()
        inFlight[name] = pending
        loader.async { [self] in
            let start = ContinuousClock.now
            let result = Result { () throws(DiffusionError) in try LoRAFile(url: URL(fileURLWithPath: entry.path)) }
            let seconds = (ContinuousClock.now - start).seconds
            lock.lock()
            if case let .success(file) = result { cache.insert(.lora(file), bytes: file.byteCount, kind: .lora, name: name) }
            inFlight[name] = nil
            lock.unlock()
            pending.fulfil(result, loadSeconds: seconds)
        }
        return pending
    }

    /// The ControlNet `name` (registered), from the cache or read now; the load's seconds, 0 on a hit.
    /// The read runs outside the lock (seconds for a full-size ControlNet), so the cache's counters
    /// stay readable meanwhile: a worker's heartbeat reads them.
    public func controlNet(_ name: String) throws(DiffusionError) -> (model: ControlNetModel, loadSeconds: Double) {
        let entry = entry(.controlNet, named: name)!
        if let held = cachedOrHeldControlNet(name) { return (held, 0) }
        let start = ContinuousClock.now
        let model: ControlNetModel
        do { model = try ControlNetModel(directory: URL(fileURLWithPath: entry.path)) } catch {
            throw .invalidConfig(file: entry.path, detail: "\(error)")
        }
        lock.lock()
        defer { lock.unlock() }
        // (A copy another caller loaded meanwhile stays cached; this one serves this caller.)
        heldControlNets[name] = WeakControlNet(model: model)
        cache.insert(.controlNet(model), bytes: model.parameters.names.reduce(0) { $0 + model.parameters.parameter($1)!.count * MemoryLayout<Float>.size }, kind: .controlNet, name: name)
        return (model, (ContinuousClock.now - start).seconds)
    }

    private func cachedOrHeldControlNet(_ name: String) -> ControlNetModel? {
        lock.lock()
        defer { lock.unlock() }
        if case let .controlNet(model)? = cache.value(for: .controlNet, name: name) { return model }
        return heldControlNets[name]?.model
    }
}

/// A LoRA being loaded on the loader thread; `wait()` blocks until it is there.
public final class PendingLoRA: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<LoRAFile, DiffusionError>?
    /// Seconds the file took to read and parse; 0 when it came from the cache.
    public private(set) var loadSeconds = 0.0

    init() {}

    init(ready file: LoRAFile) { result = .success(file) }

    public var isReady: Bool {
        condition.lock()
        defer { condition.unlock() }
        return result != nil
    }

    func fulfil(_ result: Result<LoRAFile, DiffusionError>, loadSeconds: Double) {
        condition.lock()
        self.result = result
        self.loadSeconds = loadSeconds
        condition.broadcast()
        condition.unlock()
    }

    public func wait() throws(DiffusionError) -> LoRAFile {
        condition.lock()
        defer { condition.unlock() }
        while result == nil { condition.wait() }
        return try result!.get()
    }
}

extension LoRAFile {
    /// Bytes its matrices hold in memory.
    public var byteCount: Int { modules.reduce(0) { $0 + ($1.down.count + $1.up.count) * MemoryLayout<Float>.size } }
}

/// A ControlNet some image may still hold, forgotten once none does.
private struct WeakControlNet {
    weak var model: ControlNetModel?
}
