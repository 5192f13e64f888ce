import Engine
import Imaging

/// A request as the front end keeps it between tries: tokenized prompt, decoded images, sampling.
struct PendingRequest: Sendable {
    var prompt: [Int]
    var images: [RGBImage]
    var parameters: SamplingParameters
    /// 64-bit keys of the images' content hashes, as the routing policies compare them.
    var imageHashes: [UInt64]

    init(prompt: [Int], images: [RGBImage], parameters: SamplingParameters) {
        self.prompt = prompt
        self.images = images
        self.parameters = parameters
        imageHashes = images.map { UInt64($0.contentHash.prefix(16), radix: 16) ?? 0 }
    }
}
