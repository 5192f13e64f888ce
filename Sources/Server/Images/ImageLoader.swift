import CoreUtilities
import Dispatch
import Foundation
import Imaging

/// Fetches and decodes a request's images before it reaches the engine, off the event loop.
///
/// Every failure is the client's: a bad base64 payload, a disallowed or failing URL, bytes that are
/// not a PNG or JPEG, or an image over the limits is a 400 naming the message part.
struct ImageLoader: Sendable {
    let limits: ImageLimits
    let fetcher: MediaFetcher
    let metrics: ServerMetrics
    /// Images decoded before, by their ids.
    let decoded: DecodedImageCache

    /// One image reference from a message, with the field it came from.
    struct Reference: Sendable {
        var url: String
        var param: String
    }

    func load(_ references: [Reference]) async throws(APIError) -> [RGBImage] {
        var images: [RGBImage] = []
        for reference in references {
            let data: Data
            switch try ImageSource.parse(reference.url, param: reference.param) {
            case let .inline(bytes):
                data = bytes
            case let .remote(url):
                let start = ContinuousClock.now
                data = try await fetcher.fetch(url, param: reference.param)
                metrics.imageFetch.record((ContinuousClock.now - start).seconds)
            }
            let start = ContinuousClock.now
            // The image's one identity, computed here once; everything downstream keys on it.
            let id = ImageID(encoded: data)
            if let image = decoded.image(for: id) {
                images.append(image)
            } else {
                images.append(decoded.insert(try await decode(data, id: id, param: reference.param), for: id))
            }
            metrics.imageDecode.record((ContinuousClock.now - start).seconds)
        }
        return images
    }

    /// Decodes on a global queue so that large images never stall the server's event loops.
    private func decode(_ data: Data, id: ImageID, param: String) async throws(APIError) -> RGBImage {
        let limits = limits
        let result: Result<RGBImage, ImageError> = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(returning: Result { () throws(ImageError) in try ImageDecoder.decode(data, id: id, limits: limits) })
            }
        }
        switch result {
        case let .success(image):
            return image
        case let .failure(error):
            throw Self.apiError(error, param: param)
        }
    }

    static func apiError(_ error: ImageError, param: String) -> APIError {
        switch error {
        case .encodedTooLarge, .tooLarge:
            .invalidRequest("the image in '\(param)' is too large: \(error)", param: param, code: "image_too_large")
        case .empty, .unsupportedFormat, .corrupt, .cmykNotSupported, .invalidPixelBuffer:
            .invalidRequest("'\(param)' is not a valid image: \(error)", param: param, code: "invalid_image")
        }
    }
}
