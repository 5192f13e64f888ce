import Diffusion
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

    /// Lookups answered from memory, and those that had to load, per kind.
    public struct Counters: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        public init(hits: Int = 0, misses: Int = 0) {
            self.hits = hits
            self.misses = misses
        }
    }

    /// Which cached add-on leaves first when another needs its room.
    public enum Eviction: String, Sendable, CaseIterable {
        /// The least recently used.
        case lru
        /// The least frequently used: fewest uses since it was loaded, the least recent of equals.
        /// A long-tail add-on used once does not push out a popular one used a while ago.
        case lfu
    }

    public let budgetBytes: Int
    public let eviction: Eviction
    public private(set) var usedBytes = 0
    public private(set) var counters: [AdapterRegistry.Kind: Counters] = [.lora: Counters(), .controlNet: Counters()]
    private var entries: [String: (value: Value, bytes: Int, lastUse: UInt64, uses: Int)] = [:]
    private var clock: UInt64 = 0

    public init(budgetBytes: Int, eviction: Eviction = .lru) {
        precondition(budgetBytes >= 0)
        self.budgetBytes = budgetBytes
        self.eviction = eviction
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
        entries[key]!.uses += 1
        return entries[key]!.value
    }

    public func contains(_ kind: AdapterRegistry.Kind, name: String) -> Bool { entries[Self.key(kind, name)] != nil }

    /// The names of the cached add-ons of `kind`, sorted.
    public func names(_ kind: AdapterRegistry.Kind) -> [String] {
        let prefix = kind.rawValue + "/"
        return entries.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }.sorted()
    }

    /// Keeps `value` (its first use), evicting entries by ``eviction`` until it fits.
    public func insert(_ value: Value, bytes: Int, kind: AdapterRegistry.Kind, name: String) {
        let key = Self.key(kind, name)
        guard bytes <= budgetBytes, entries[key] == nil else { return }
        let lfu = eviction == .lfu
        while usedBytes + bytes > budgetBytes,
              let victim = entries.min(by: { (lfu ? $0.value.uses : 0, $0.value.lastUse) < (lfu ? $1.value.uses : 0, $1.value.lastUse) }) {
            usedBytes -= victim.value.bytes
            entries[victim.key] = nil
        }
        clock += 1
        entries[key] = (value, bytes, clock, 1)
        usedBytes += bytes
    }
}
