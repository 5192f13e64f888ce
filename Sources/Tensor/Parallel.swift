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

extension Parallel {
    /// Calls `body(first, count, begin, end)` for each block `first ..< first + count` of `total`
    /// items (`blockSize` at most) and each band `begin ..< end` of `channels` output channels,
    /// spread over the pool. Channels are cut into bands (multiples of 16) only when the blocks
    /// are too few for two tasks per compute thread.
    static func forEachBlockAndBand(total: Int, blockSize: Int, channels: Int,
                                    _ body: (_ first: Int, _ count: Int, _ begin: Int, _ end: Int) -> Void) {
        let blocks = (total + blockSize - 1) / blockSize
        guard blocks > 0 else { return }
        ComputeThreads.configureOnce()
        let bands = max(1, min((channels + 15) / 16, (2 * ComputeThreads.count + blocks - 1) / blocks))
        forEach(blocks * bands) { task in
            let first = task / bands * blockSize
            let (begin, end) = sixteens(task % bands, of: bands, count: channels)
            guard begin < end else { return }
            body(first, min(blockSize, total - first), begin, end)
        }
    }

    /// Part `part` of `parts` of `0 ..< count`, `begin ..< end` cut on multiples of 16 so SGEMM's
    /// inner kernels stay on full panels; empty where there are fewer blocks of 16 than parts.
    static func sixteens(_ part: Int, of parts: Int, count: Int) -> (begin: Int, end: Int) {
        let blocks = (count + 15) / 16
        return (blocks * part / parts * 16, min(count, blocks * (part + 1) / parts * 16))
    }
}

private let trampoline: ck_task_fn = { context, index, _ in
    guard let context else { return }
    context.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(index))
}
