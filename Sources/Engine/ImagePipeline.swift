import Dispatch
import Foundation
import Imaging
import Models
import Tensor

/// Non-blocking encoding (ElasticMM §4, "non-blocking encoding"; vLLM's encoder cache): a
/// request's images are preprocessed and encoded on the pipeline's own background threads, off the
/// step loop and below its OS priority, so text requests keep prefilling and decoding meanwhile. Features
/// are cached by content id (a hash of the decoded pixels and the preprocessing parameters) and
/// pinned until the request that uses them is retired.
///
/// ```swift
/// pipeline.prepare(tokens: ids, images: images) { result in /* hand the request to the step loop */ }
/// pipeline.release(prepared.contentIds)   // when the request finishes
/// ```
final class ImagePipeline: @unchecked Sendable {
    /// How images enter prompts (from the model's config; no weights).
    let format: ImagePromptFormat
    let processor: any ImageProcessor
    let cache: EncoderCache<Matrix>
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
        var contentIds: [String] { spans.map(\.contentId) }
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
        cache = EncoderCache(budgetTokens: cacheBudgetTokens)
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
    func estimatedTokens(for image: RGBImage) throws -> Int {
        if let fixedTokenCount { return fixedTokenCount }
        guard let qwen = processor as? Qwen2VLImageProcessor else { return 0 }
        let size = try qwen.targetSize(height: image.height, width: image.width)
        return (size.height / qwen.patchSize) * (size.width / qwen.patchSize) / (qwen.mergeSize * qwen.mergeSize)
    }

    var statistics: (queries: Int, hits: Int) {
        cacheLock.withLock { (cache.queries, cache.hits) }
    }

    /// Preprocesses, expands the prompt and encodes (or finds cached) every image, then calls
    /// `completion` on the encoder executor.
    func prepare(tokens: [Int], images: [RGBImage], completion: @escaping @Sendable (Result<Prepared, EngineError>) -> Void) {
        preprocessExecutor.async { [self] in
            var timings = [ImageStageTimings](repeating: ImageStageTimings(), count: images.count)
            let preprocessed: [PreprocessedImage]
            let prompt: MultimodalPrompt
            do {
                preprocessed = try images.enumerated().map { i, image in
                    let start = DispatchTime.now()
                    defer { timings[i].preprocess = Self.seconds(since: start) }
                    return try processor.preprocess(image)
                }
                prompt = try format.expandPrompt(tokens, images: preprocessed)
            } catch {
                return completion(.failure(.invalidRequest("could not prepare the images: \(error)")))
            }
            let ids = images.map(contentId(of:))
            let preprocessTimings = timings
            encodeExecutor.async { [self] in
                var timings = preprocessTimings
                var matrices: [Matrix] = []
                for (i, image) in preprocessed.enumerated() {
                    if let cached = cacheLock.withLock({ cache.acquire(ids[i]) }) {
                        timings[i].encoderCacheHit = true
                        matrices.append(cached)
                        continue
                    }
                    let start = DispatchTime.now()
                    do {
                        let features = try encode(image)
                        timings[i].encode = Self.seconds(since: start)
                        cacheLock.withLock { cache.insert(ids[i], features, tokens: features.rows) }
                        matrices.append(features)
                    } catch {
                        release(Array(ids[..<i]))
                        return completion(.failure(.internalFailure("the vision encoder failed: \(error)")))
                    }
                }
                do {
                    let features = try prompt.place(matrices)
                    let spans = zip(ids, prompt.imageSpans).map { ImageSpan(contentId: $0, offset: $1.offset, length: $1.length) }
                    completion(.success(Prepared(prompt: prompt, spans: spans, features: features, timings: timings)))
                } catch {
                    release(ids)
                    completion(.failure(.invalidRequest("\(error)")))
                }
            }
        }
    }

    /// Unpins the features a retired request used.
    func release(_ ids: [String]) {
        cacheLock.withLock { for id in ids { cache.release(id) } }
    }

    private static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }
}
