/// Which unpinned entry of a budgeted cache (``LRUCache``) leaves first when another needs its room.
///
/// Katz/SwiftDiffusion §ControlNet-as-a-Service keeps the top-K add-ons resident by either: the
/// LoRA/ControlNet cache and a `controlnet` worker's resident set take it from
/// `--adapter-cache-eviction lru|lfu`.
///
/// ```swift
/// var cache = LRUCache<String, Int>(budget: 2, eviction: .lfu)
/// ```
public enum CacheEviction: String, Sendable, CaseIterable {
    /// The least recently used.
    case lru
    /// The least frequently used: fewest uses since it was cached, the least recent of equals. A
    /// long-tail entry used once does not push out a popular one used a while ago.
    case lfu
}
