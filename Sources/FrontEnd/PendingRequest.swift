import Cluster
import Imaging
import ServingAPI

/// A request as the front end keeps it between tries: tokenized prompt, decoded images, sampling.
struct PendingRequest: Sendable {
    var prompt: [Int]
    var images: [RGBImage]
    var parameters: SamplingParameters
    /// 64-bit keys of the images' content hashes, as the routing policies compare them.
    var imageHashes: [UInt64]
    /// The prompt's chained block hashes, for prefix-cache-aware routing.
    var blockHashes: [UInt64]

    init(prompt: [Int], images: [RGBImage], parameters: SamplingParameters, blockSize: Int) {
        self.prompt = prompt
        self.images = images
        self.parameters = parameters
        imageHashes = images.map { UInt64($0.contentHash.prefix(16), radix: 16) ?? 0 }
        blockHashes = PromptBlockHashes.chain(tokens: prompt, blockSize: blockSize, seed: PromptBlockHashes.seed(images: imageHashes))
    }
}
