import CoreUtilities

/// Chained hashes of a prompt's full KV blocks, the keys cache-aware routing compares.
///
/// Block `i`'s hash covers block `i - 1`'s hash and block `i`'s token ids (FNV-1a, the chaining a
/// worker's paged-KV prefix cache uses), so two prompts share the first `n` hashes exactly when
/// they share the first `n` blocks of tokens. The chain starts from `seed`; a prompt with images
/// seeds it with their ids, so prompts only match where their images agree too.
///
/// ```swift
/// let hashes = PromptBlockHashes.chain(tokens: prompt, blockSize: 16, seed: PromptBlockHashes.seed(images: [image.id]))
/// ```
public enum PromptBlockHashes {
    /// One hash per full block of `tokens`; a trailing partial block is not cached, so it has none.
    public static func chain(tokens: [Int], blockSize: Int, seed: UInt64 = 0) -> [UInt64] {
        guard blockSize > 0 else { return [] }
        var hashes: [UInt64] = []
        hashes.reserveCapacity(tokens.count / blockSize)
        var parent = seed
        var start = 0
        while start + blockSize <= tokens.count {
            var h = FNV1a()
            h.mix(parent)
            for token in tokens[start ..< start + blockSize] { h.mix(UInt64(bitPattern: Int64(token))) }
            hashes.append(h.value)
            parent = h.value
            start += blockSize
        }
        return hashes
    }

    /// The chain's seed for a prompt with these images (in order); 0 for a text prompt.
    public static func seed(images: [ImageID]) -> UInt64 {
        guard !images.isEmpty else { return 0 }
        var h = FNV1a()
        for image in images { image.mix(into: &h) }
        return h.value
    }
}
