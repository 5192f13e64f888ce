import CKernels

/// Runs closures on the compute pool.
public enum Parallel {
    /// Calls `body(i)` for every i in 0 ..< count, spread over `ComputeThreads.count` threads,
    /// and returns when all calls are done. Nested calls run inline.
    ///
    /// ```swift
    /// Parallel.forEach(heads) { h in attendHead(h) }
    /// ```
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        ComputeThreads.configureOnce()
        if count == 1 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var closure = escapable
            withUnsafeMutablePointer(to: &closure) { pointer in
                ck_parallel_for(trampoline, UnsafeMutableRawPointer(pointer), Int32(clamping: count))
            }
        }
    }
}

private let trampoline: ck_task_fn = { context, index, _ in
    guard let context else { return }
    context.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(index))
}
