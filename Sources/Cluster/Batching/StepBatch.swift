/// Which running images share the next UNet call (Orca-style iteration-level scheduling, applied
/// to denoising steps): the oldest running image's latent size picks the group, and every running
/// image of that size joins, whatever step it is at, up to `maxBatchSize`. Images of other sizes
/// wait for a step whose oldest image is theirs, so no size starves.
///
/// ```swift
/// let chosen = StepBatch.select(sizes: [(32, 32), (16, 16), (32, 32)], maxBatchSize: 8)   // [0, 2]
/// ```
public enum StepBatch {
    /// Indices into `sizes` (latent height × width of the running images, oldest first).
    public static func select(sizes: [(height: Int, width: Int)], maxBatchSize: Int) -> [Int] {
        guard let first = sizes.first else { return [] }
        return Array(sizes.indices.filter { sizes[$0] == first }.prefix(maxBatchSize))
    }
}
