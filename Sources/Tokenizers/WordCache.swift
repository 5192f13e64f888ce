import Foundation

/// A bounded, thread-safe memo of word → ids, so repeated words skip the merge loop.
///
/// Like `tokenizers`, it stops admitting entries once full rather than evicting.
final class WordCache: @unchecked Sendable {
    private var entries: [Key: [Int]] = [:]
    private let lock = NSLock()
    private let capacity: Int
    /// Longer words are rare and would bloat the cache.
    private let maximumWordLength = 256

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    subscript(word: [Unicode.Scalar]) -> [Int]? {
        get {
            lock.lock()
            defer { lock.unlock() }
            return entries[Key(scalars: word)]
        }
        set {
            guard let newValue, word.count <= maximumWordLength else { return }
            lock.lock()
            defer { lock.unlock() }
            if entries.count < capacity { entries[Key(scalars: word)] = newValue }
        }
    }

    /// Hashes the scalars' memory in one pass, which is much cheaper than element-wise hashing.
    private struct Key: Hashable {
        let scalars: [Unicode.Scalar]

        func hash(into hasher: inout Hasher) {
            scalars.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
}
