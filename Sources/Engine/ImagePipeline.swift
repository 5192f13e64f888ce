import Cluster
import CoreUtilities
import Dispatch
import Foundation
import Imaging
import Models
import ServingAPI
import Tensor

/// Non-blocking encoding (ElasticMM §4, "non-blocking encoding"; vLLM's encoder cache): a
/// request's images are preprocessed and encoded on the pipeline's own background threads, off the
/// step loop and below its OS priority, so text requests keep prefilling and decoding meanwhile. Features
/// are cached by the image's ``ImageID`` (an engine has one preprocessing, so the id alone names its output) and
/// pinned until the request that uses them is retired.
///
/// ```swift
/// pipeline.prepare(tokens: ids, images: images) { result in /* hand the request to the step loop */ }
/// pipeline.release(prepared.imageIDs)   // when the request finishes
/// ```
final class ImagePipeline: @unchecked Sendable {
    /// How images enter prompts (from the model's config; no weights).
    let format: ImagePromptFormat
    let processor: any ImageProcessor
    var cache: LRUCache<ImageID, Matrix>
    let cacheLock = NSLock()
    private let preprocessExecutor: ThreadExecutor
    let encodeExecutor: ThreadExecutor
    /// Placeholder tokens of every image, for processors whose output size is fixed.
    private let fixedTokenCount: Int?
    /// The vision tower and projector, once loaded; guarded by `encoderLock`.
    private var loadedEncoder: VisionLanguageEncoder?
    private let encoderLock = NSLock()
    private let loadEncoder: @Sendable () throws -> VisionLanguageEncoder

    /// A request's images, ready for prefill.
    struct Prepared: @unchecked Sendable {
        var prompt: MultimodalPrompt
        var spans: [ImageSpan]
        var features: [ImageFeatures]
        var timings: [ImageStageTimings]
        var imageIDs: [ImageID] { spans.map(\.imageID) }
    }

    /// `encoder` is the loaded vision side, or nil to load it with `loadEncoder` when an image
    /// first needs encoding (images provided already encoded never do). `background`: preprocess
    /// and encode below the step loop's priority, without the compute pool.
    init(format: ImagePromptFormat, encoder: VisionLanguageEncoder?, loadEncoder: @escaping @Sendable () throws -> VisionLanguageEncoder,
         processor: any ImageProcessor, cacheBudgetTokens: Int, background: Bool) throws {
        self.format = format
        self.processor = processor
        preprocessExecutor = ThreadExecutor(name: "tessera.image-preprocess", threads: 2, background: background)
        encodeExecutor = ThreadExecutor(name: "tessera.image-encoder", background: background)
        loadedEncoder = encoder
        self.loadEncoder = loadEncoder
        cache = LRUCache(budget: cacheBudgetTokens)
        if processor is Qwen2VLImageProcessor {
            fixedTokenCount = nil
        } else {
            // Resize-and-crop processors emit one size whatever the input: measure it once.
            let probe = try RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 128, count: 8 * 8 * 3))
            fixedTokenCount = try format.imageTokenCount(for: processor.preprocess(probe))
        }
    }

    /// Whether the vision tower and projector are in memory.
    var encoderLoaded: Bool { encoderLock.withLock { loadedEncoder != nil } }

    /// The vision side, loading it first if needed. Called on `encodeExecutor` only, so it loads once.
    private func encoder() throws -> VisionLanguageEncoder {
        if let encoder = encoderLock.withLock({ loadedEncoder }) { return encoder }
        let encoder = try loadEncoder()
        encoderLock.withLock { loadedEncoder = encoder }
        return encoder
    }

    /// Encodes one preprocessed image. Called on `encodeExecutor` only.
    func encode(_ image: PreprocessedImage) throws -> Matrix {
        try encoder().encodeImage(image)
    }

    /// Placeholder tokens `image` will expand to, from its size alone (admission counts image cost
    /// before any preprocessing work starts).
    func estimatedTokens(for image: ImageReference) throws -> Int {
        try processor.checkSize(height: image.height, width: image.width)
        if let fixedTokenCount { return fixedTokenCount }
        guard let qwen = processor as? Qwen2VLImageProcessor, let grid = try gridTHW(of: image) else { return 0 }
        return grid.reduce(1, *) / (qwen.mergeSize * qwen.mergeSize)
    }

    /// How this model turns an image's size into prompt tokens, in the cluster policies' terms.
    var imageTokenRule: ImageTokenRule { ImageTokenRule(processor: processor) { fixedTokenCount ?? 0 } }

    var statistics: (queries: Int, hits: Int) {
        cacheLock.withLock { (cache.queries, cache.hits) }
    }

    /// Looks every image up in the encoder cache, preprocesses and encodes the ones it lacks,
    /// expands the prompt, then calls `completion`. A repeated image costs a cache lookup by its id
    /// only (on the caller's thread, which also gets the completion when every image is cached): no
    /// resizing, no encoding, no wait for the background threads. An image without pixels must
    /// be in the cache (its features were provided by an encode stage).
    func prepare(tokens: [Int], images: [ImageReference], completion: @escaping @Sendable (Result<Prepared, EngineError>) -> Void) {
        let ids = images.map(\.id)
        // Pinned now, so eviction cannot take them before the request is retired.
        let cached = cacheLock.withLock { ids.map { cache.acquire($0) } }
        if cached.allSatisfy({ $0 != nil }) { return prepareCached(tokens: tokens, images: images, ids: ids, cached: cached, completion: completion) }
        preprocessExecutor.async { [self] in prepareCached(tokens: tokens, images: images, ids: ids, cached: cached, completion: completion) }
    }

    /// `prepare` once the cache has been asked: lays out the prompt, preprocessing the misses, and
    /// hands them to the encoder thread (or completes at once when there are none).
    private func prepareCached(
        tokens: [Int], images: [ImageReference], ids: [ImageID], cached: [Matrix?],
        completion: @escaping @Sendable (Result<Prepared, EngineError>) -> Void
    ) {
        var timings = [ImageStageTimings](repeating: ImageStageTimings(), count: images.count)
        var preprocessed = [PreprocessedImage?](repeating: nil, count: images.count)
        let prompt: MultimodalPrompt
        do {
            let layouts = try images.indices.map { i in
                if let features = cached[i] {
                    timings[i].encoderCacheHit = true
                    return ImageLayout(tokenCount: features.rows, gridTHW: try gridTHW(of: images[i]))
                }
                guard let pixels = images[i].image else { throw MissingFeatures(id: ids[i]) }
                let start = DispatchTime.now()
                let image = try processor.preprocess(pixels)
                timings[i].preprocess = Self.seconds(since: start)
                preprocessed[i] = image
                return ImageLayout(tokenCount: try format.imageTokenCount(for: image), gridTHW: image.gridTHW)
            }
            prompt = try format.expandPrompt(tokens, layouts: layouts)
        } catch {
            release(zip(ids, cached).compactMap { $1 == nil ? nil : $0 })
            // Features lost between the encode stage's hand-over and here are ours to retry, not the client's fault.
            if error is MissingFeatures { return completion(.failure(.internalFailure("\(error)"))) }
            return completion(.failure(.invalidRequest("could not prepare the images: \(error)")))
        }
        let preprocessTimings = timings, toEncode = preprocessed
        let finish: @Sendable ([Matrix], [ImageStageTimings]) -> Void = { [self] features, timings in
            do {
                let placed = try prompt.place(features)
                let spans = zip(ids, prompt.imageSpans).map { ImageSpan(imageID: $0, offset: $1.offset, length: $1.length) }
                completion(.success(Prepared(prompt: prompt, spans: spans, features: placed, timings: timings)))
            } catch {
                release(ids)
                completion(.failure(.invalidRequest("\(error)")))
            }
        }
        if cached.allSatisfy({ $0 != nil }) { return finish(cached.compactMap { $0 }, timings) }
        encodeExecutor.async { [self] in
            var timings = preprocessTimings
            var matrices: [Matrix] = []
            for (i, image) in toEncode.enumerated() {
                if let features = cached[i] {
                    matrices.append(features)
                    continue
                }
                guard let image else { continue }
                // An identical image of another request may have been encoded since the lookup.
                if let features = cacheLock.withLock({ cache.pin(ids[i]) }) {
                    timings[i].encoderCacheHit = true
                    matrices.append(features)
                    continue
                }
                let start = DispatchTime.now()
                do {
                    let features = try encode(image)
                    timings[i].encode = Self.seconds(since: start)
                    cacheLock.withLock { cache.insert(ids[i], features, cost: features.rows) }
                    matrices.append(features)
                } catch {
                    release(ids.indices.filter { $0 < i || cached[$0] != nil }.map { ids[$0] })
                    return completion(.failure(.internalFailure("the vision encoder failed: \(error)")))
                }
            }
            finish(matrices, timings)
        }
    }

    /// Qwen2-VL's patch grid of `image` from its size alone; nil for fixed-size encoders.
    private func gridTHW(of image: ImageReference) throws -> [Int]? {
        guard let qwen = processor as? Qwen2VLImageProcessor else { return nil }
        let size = try qwen.targetSize(height: image.height, width: image.width)
        return [1, size.height / qwen.patchSize, size.width / qwen.patchSize]
    }

    /// Unpins the features a retired request used.
    func release(_ ids: [ImageID]) {
        cacheLock.withLock { for id in ids { cache.release(id) } }
    }

    /// An image came without pixels, and the features that should have been provided with it are not in the cache.
    struct MissingFeatures: Error, CustomStringConvertible {
        var id: ImageID
        var description: String { "the features of image \(id) were not provided and its pixels are not here" }
    }

    static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }
}
