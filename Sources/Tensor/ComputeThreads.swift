import CKernels
import COpenBLAS
import Foundation

/// The process-wide number of compute threads (the caller included) used by every kernel.
///
/// OpenBLAS is pinned to one thread per call and GEMMs are split across Tessera's own pool instead,
/// so the two never oversubscribe the cores.
///
/// ```swift
/// ComputeThreads.set(2)   // e.g. from `--threads 2`
/// ```
public enum ComputeThreads {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var configured = false

    /// Current thread count; defaults to the active processor count.
    public static var count: Int {
        configureOnce()
        return Int(ck_pool_threads())
    }

    /// Sets the thread count (clamped to at least 1). Safe to call from any thread.
    public static func set(_ n: Int) {
        lock.lock()
        defer { lock.unlock() }
        configured = true
        openblas_set_num_threads(1)
        ck_pool_set_threads(Int32(clamping: max(1, n)))
    }

    /// Applies the default on first use.
    static func configureOnce() {
        lock.lock()
        defer { lock.unlock() }
        if configured { return }
        configured = true
        openblas_set_num_threads(1)
        ck_pool_set_threads(Int32(clamping: ProcessInfo.processInfo.activeProcessorCount))
    }
}
