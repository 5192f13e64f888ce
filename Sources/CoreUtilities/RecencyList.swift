/// Keys in the order they were last used, with O(1) insertion, removal from anywhere and taking of
/// the least recently used: the order behind every LRU here (``LRUCache``, the engine's free KV
/// blocks, the router's prefix-cache index).
///
/// A doubly linked list threaded through a dictionary, so a key leaves the middle of the order
/// without a scan (a cached KV block that gets a prefix hit leaves the free queue unevicted).
///
/// Iterating visits the keys from the least to the most recently used.
///
/// ```swift
/// var order = RecencyList<Int>()
/// order.touch(1); order.touch(2); order.touch(1)
/// Array(order)        // [2, 1]
/// order.popOldest()   // 2
/// ```
public struct RecencyList<Key: Hashable>: Hashable, Sequence {
    fileprivate struct Link: Hashable {
        var older: Key?
        var newer: Key?
    }

    private var links: [Key: Link] = [:]
    /// The least recently used key: the next to evict.
    public private(set) var oldest: Key?
    public private(set) var newest: Key?

    public init() {}

    public var count: Int { links.count }
    public var isEmpty: Bool { links.isEmpty }

    public func contains(_ key: Key) -> Bool { links[key] != nil }

    /// Makes `key` the most recently used, adding it when absent.
    public mutating func touch(_ key: Key) {
        remove(key)
        links[key] = Link(older: newest, newer: nil)
        if let newest { links[newest]?.newer = key }
        newest = key
        if oldest == nil { oldest = key }
    }

    /// Takes `key` out of the order; false when it was not there.
    @discardableResult
    public mutating func remove(_ key: Key) -> Bool {
        guard let link = links.removeValue(forKey: key) else { return false }
        if let older = link.older { links[older]?.newer = link.newer } else { oldest = link.newer }
        if let newer = link.newer { links[newer]?.older = link.older } else { newest = link.older }
        return true
    }

    /// Removes and returns the least recently used key.
    @discardableResult
    public mutating func popOldest() -> Key? {
        guard let key = oldest else { return nil }
        remove(key)
        return key
    }

    public struct Iterator: IteratorProtocol {
        fileprivate let links: [Key: Link]
        fileprivate var upcoming: Key?

        public mutating func next() -> Key? {
            guard let key = upcoming else { return nil }
            upcoming = links[key]?.newer
            return key
        }
    }

    /// The keys from the least to the most recently used.
    public func makeIterator() -> Iterator { Iterator(links: links, upcoming: oldest) }
}

extension RecencyList: Sendable where Key: Sendable {}
extension RecencyList.Link: Sendable where Key: Sendable {}
