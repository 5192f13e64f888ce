import CoreUtilities
import Foundation
import Imaging
import ServingAPI
import Tensor

/// One image's vision features as they leave an encode engine: `rows` feature tokens of `cols`
/// floats, keyed by the image's id.
public struct EncodedImage: Sendable, Hashable {
    public var imageID: ImageID
    public var rows: Int
    public var cols: Int
    public var features: [Float]

    public init(imageID: ImageID, rows: Int, cols: Int, features: [Float]) {
        self.imageID = imageID
        self.rows = rows
        self.cols = cols
        self.features = features
    }
}

/// The encode stage as its own engine role (EPD's E instances): encode images ahead of prefill,
/// keep them pinned until the prefill side has them, and take encoded images from elsewhere.
///
/// ```swift
/// let encoded = try await encoder.encodeImages(images).images  // E: pinned
/// prefillEngine.provideEncoded(encoded)                      // P: cached, found by the image path
/// encoder.releaseEncoded(encoded.map(\.imageID))           // E: unpinned once P confirmed
/// ```
extension LLMEngine {
    /// Encodes `images` on this engine's vision encoder (cached ones are not re-encoded), pinned
    /// until `releaseEncoded`, with where each image's time went (as a request's `RequestTimings.images`).
    public func encodeImages(_ images: [RGBImage]) async throws(EngineError) -> (images: [EncodedImage], timings: [ImageStageTimings]) {
        guard let pipeline = imagePipeline else { throw .invalidRequest("model '\(servedModel.name)' does not accept images") }
        do {
            return try await onOwnThread {
                var encoded: [EncodedImage] = [], timings: [ImageStageTimings] = []
                do {
                    for image in images {
                        let (id, m, timing) = try pipeline.encodePinned(image)
                        encoded.append(EncodedImage(imageID: id, rows: m.rows, cols: m.cols, features: Array(UnsafeBufferPointer(start: m.data, count: m.count))))
                        timings.append(timing)
                    }
                } catch {
                    pipeline.release(encoded.map(\.imageID))
                    throw EngineError.invalidRequest("the vision encoder failed: \(error)")
                }
                self.publishEncoderStatistics()
                return (encoded, timings)
            }
        } catch let error as EngineError {
            throw error
        } catch {
            throw .internalFailure("\(error)")
        }
    }

    /// Unpins images `encodeImages` returned.
    public func releaseEncoded(_ imageIDs: [ImageID]) { imagePipeline?.release(imageIDs) }

    /// Adds images encoded elsewhere to this engine's encoder cache; requests showing them skip encoding.
    public func provideEncoded(_ images: [EncodedImage]) {
        guard let pipeline = imagePipeline else { return }
        for image in images where image.rows * image.cols == image.features.count {
            let matrix = Matrix(rows: image.rows, cols: image.cols)
            image.features.withUnsafeBufferPointer { matrix.data.update(from: $0.baseAddress!, count: $0.count) }
            pipeline.provide(id: image.imageID, features: matrix)
        }
    }

    /// Whether the vision tower and projector are in memory (loaded at start, or since an image needed them).
    public var visionEncoderLoaded: Bool { imagePipeline?.encoderLoaded ?? false }
}
