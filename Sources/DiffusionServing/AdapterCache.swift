import CoreUtilities
import Diffusion
import ServingAPI
import Models

/// Loaded add-ons kept in memory under a byte budget, the least recently used (or, with
/// ``Eviction/lfu``, the least frequently used) out first, so a popular LoRA or ControlNet stays
/// ready while the long tail passes through (Katz/SwiftDiffusion §ControlNet-as-a-Service keeps
/// the top K by either). An add-on larger than the whole budget is used but not kept. Not
/// thread-safe: ``AdapterRegistry`` calls it under its lock.
///
/// ```swift
/// let cache = AdapterCache(budgetBytes: 1 << 30, eviction: .lfu)
/// cache.insert(.lora(file), bytes: file.byteCount, kind: .lora, name: "watercolor")
/// cache.value(for: .lora, name: "watercolor")       // counts a hit
/// ```
public final class AdapterCache: @unchecked Sendable {
    public enum Value {
        case lora(LoRAFile)
        case controlNet(ControlNetModel)
    }

    /// Which cached add-on leaves first when another needs its room.
    public typealias Eviction = CacheEviction

    public var budgetBytes: Int { entries.budget }
    public var eviction: Eviction { entries.eviction }
    public var usedBytes: Int { entries.usedCost }
    public private(set) var counters: [AdapterKind: AdapterCacheCounters] = [.lora: AdapterCacheCounters(), .controlNet: AdapterCacheCounters()]
    /// Never pinned: a value in use stays valid after eviction, it just is not kept.
    private var entries: LRUCache<String, Value>

    public init(budgetBytes: Int, eviction: Eviction = .lru) {
        precondition(budgetBytes >= 0)
        entries = LRUCache(budget: budgetBytes, eviction: eviction)
    }

    private static func key(_ kind: AdapterKind, _ name: String) -> String { kind.rawValue + "/" + name }

    /// The cached add-on, counting a hit or a miss.
    public func value(for kind: AdapterKind, name: String) -> Value? {
        let key = Self.key(kind, name)
        guard let value = entries.acquire(key) else {
            counters[kind]!.misses += 1
            return nil
        }
        entries.release(key)
        counters[kind]!.hits += 1
        return value
    }

    public func contains(_ kind: AdapterKind, name: String) -> Bool { entries.contains(Self.key(kind, name)) }

    /// The names of the cached add-ons of `kind`, sorted.
    public func names(_ kind: AdapterKind) -> [String] {
        let prefix = kind.rawValue + "/"
        return entries.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }.sorted()
    }

    /// Keeps `value` (its first use), evicting entries by ``eviction`` until it fits.
    public func insert(_ value: Value, bytes: Int, kind: AdapterKind, name: String) {
        let key = Self.key(kind, name)
        guard !entries.contains(key) else { return }
        entries.touch(key, value, cost: bytes)
    }
}
