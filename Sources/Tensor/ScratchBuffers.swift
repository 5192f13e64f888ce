import Foundation

/// Reusable float buffers for per-call temporaries (widened weights, attention scores), so hot
/// paths do not page-fault fresh allocations on every call. Safe to use from any thread.
enum ScratchBuffers {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []

    /// Lends a buffer of at least `count` floats for the duration of `body`.
    static func with<R>(count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        let buffer = take(count)
        defer { give(buffer) }
        return body(buffer.pointer)
    }

    private static func take(_ count: Int) -> (pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        lock.lock()
        if let index = free.firstIndex(where: { $0.capacity >= count }) {
            let buffer = free.remove(at: index)
            lock.unlock()
            return buffer
        }
        // Grow by dropping the largest too-small buffer rather than keeping many.
        let dropped = free.isEmpty ? nil : free.removeLast()
        lock.unlock()
        dropped?.pointer.deallocate()
        return (.allocate(capacity: max(count, 1)), max(count, 1))
    }

    private static func give(_ buffer: (pointer: UnsafeMutablePointer<Float>, capacity: Int)) {
        lock.lock()
        free.append(buffer)
        free.sort { $0.capacity < $1.capacity }
        lock.unlock()
    }
}
