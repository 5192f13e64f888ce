import Foundation

/// Runs blocking work (loading weights, a socket round trip, encoding images) on a thread of its
/// own and awaits its result, so Swift's cooperative threads (two on a 2-core machine) stay free
/// for everything else meanwhile.
///
/// ```swift
/// let engine = try await onOwnThread { try LLMEngine(directory: model) }
/// ```
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}
