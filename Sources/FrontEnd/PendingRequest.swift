import Cluster
import CoreUtilities
import Imaging
import ServingAPI

/// A request as the front end keeps it between tries: tokenized prompt, decoded images, sampling.
struct PendingRequest: Sendable {
    var prompt: [Int]
    var images: [RGBImage]
    var parameters: SamplingParameters
    /// The latency class the workers' batch policy orders the request by; nil for their default.
    var sloClass: String?
    /// Its class's objective: what the policies see and SLO attainment is judged by.
    var slo: LatencySLO
    /// The images' ids, as the handler computed them; every policy and worker keys on them.
    var imageIDs: [ImageID] { images.map(\.id) }
    /// The prompt's chained block hashes, for prefix-cache-aware routing.
    var blockHashes: [UInt64]

    init(prompt: [Int], images: [RGBImage], parameters: SamplingParameters, sloClass: String?, slo: LatencySLO, blockSize: Int) {
        self.prompt = prompt
        self.images = images
        self.parameters = parameters
        self.sloClass = sloClass
        self.slo = slo
        blockHashes = PromptBlockHashes.chain(tokens: prompt, blockSize: blockSize, seed: PromptBlockHashes.seed(images: images.map(\.id)))
    }
}
