import Diffusion
import Models

/// Loaded add-ons kept in memory under a byte budget, least recently used out first (a popular
/// LoRA or ControlNet stays ready while the long tail passes through). An add-on larger than the
/// whole budget is used but not kept. Not thread-safe: ``AdapterRegistry`` calls it under its lock.
///
/// ```swift
/// let cache = AdapterCache(budgetBytes: 1 << 30)
/// cache.insert(.lora(file), bytes: file.byteCount, kind: .lora, name: "watercolor")
/// cache.value(for: .lora, name: "watercolor")       // counts a hit
/// ```
public final class AdapterCache: @unchecked Sendable {
    public enum Value {
        case lora(LoRAFile)
        case controlNet(ControlNetModel)
    }

    /// Lookups answered from memory, and those that had to load, per kind.
    public struct Counters: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        public init(hits: Int = 0, misses: Int = 0) {
            self.hits = hits
            self.misses = misses
        }
    }

    public let budgetBytes: Int
    public private(set) var usedBytes = 0
    public private(set) var counters: [AdapterRegistry.Kind: Counters] = [.lora: Counters(), .controlNet: Counters()]
    private var entries: [String: (value: Value, bytes: Int, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0

    public init(budgetBytes: Int) {
        precondition(budgetBytes >= 0)
        self.budgetBytes = budgetBytes
    }

    private static func key(_ kind: AdapterRegistry.Kind, _ name: String) -> String { kind.rawValue + "/" + name }

    /// The cached add-on, counting a hit or a miss.
    public func value(for kind: AdapterRegistry.Kind, name: String) -> Value? {
        let key = Self.key(kind, name)
        clock += 1
        guard entries[key] != nil else {
            counters[kind]!.misses += 1
            return nil
        }
        counters[kind]!.hits += 1
        entries[key]!.lastUse = clock
        return entries[key]!.value
    }

    public func contains(_ kind: AdapterRegistry.Kind, name: String) -> Bool { entries[Self.key(kind, name)] != nil }

    /// The names of the cached add-ons of `kind`, sorted.
    public func names(_ kind: AdapterRegistry.Kind) -> [String] {
        let prefix = kind.rawValue + "/"
        return entries.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }.sorted()
    }

    /// Keeps `value`, evicting the least recently used entries until it fits.
    public func insert(_ value: Value, bytes: Int, kind: AdapterRegistry.Kind, name: String) {
        let key = Self.key(kind, name)
        guard bytes <= budgetBytes, entries[key] == nil else { return }
        while usedBytes + bytes > budgetBytes, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            usedBytes -= oldest.value.bytes
            entries[oldest.key] = nil
        }
        clock += 1
        entries[key] = (value, bytes, clock)
        usedBytes += bytes
    }
}
