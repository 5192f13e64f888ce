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

    /// Makes the calling thread a background compute thread for the rest of its life: its parallel
    /// loops run inline (the pool stays with foreground callers such as the step loop) and the OS
    /// gives it only the CPU time foreground threads leave (nice 19). Returns false when the
    /// priority could not be lowered; the loops run inline either way.
    @discardableResult
    public static func makeCurrentThreadBackground() -> Bool {
        ck_thread_set_background() == 0
    }

    /// Runs the calling thread (a step loop) at the pool workers' compute priority, below the
    /// threads that serve requests, so that they preempt its kernels when they wake. Returns false
    /// when the priority could not be lowered.
    @discardableResult
    public static func makeCurrentThreadCompute() -> Bool {
        ck_thread_set_compute() == 0
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
