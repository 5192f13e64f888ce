import Foundation
import Imaging

extension FuzzTarget {
    /// The PNG and JPEG decoders (libpng and libjpeg-turbo behind `CImageCodecs`, then EXIF
    /// orientation and the conversion to RGB) under the server's default limits: any bytes decode
    /// to a consistent RGB image or are refused with an ``ImageError``.
    static func image(fixtures: URL) -> FuzzTarget {
        let images = fixtures.appendingPathComponent("images")
        let seeds = ["good", "bad"].flatMap { files(in: images.appendingPathComponent($0), extensions: ["png", "jpg"]) }
        return FuzzTarget(name: "image", seeds: seeds) { bytes in
            // `tessera serve`'s limits (ServerConfiguration.imageLimits): 20 MiB encoded, 40 megapixels.
            let limits = ImageLimits(maxEncodedBytes: 20 << 20, maxPixels: 40_000_000)
            for options in [DecodeOptions.default, DecodeOptions(applyEXIFOrientation: false, alpha: .discard)] {
                guard let image = try? ImageDecoder.decode(Data(bytes), limits: limits, options: options) else { return }
                precondition(image.width > 0 && image.height > 0 && image.width * image.height <= limits.maxPixels, "\(image.width)x\(image.height) past the limits")
                precondition(image.pixels.count == image.width * image.height * 3, "\(image.pixels.count) samples for \(image.width)x\(image.height) RGB")
            }
        }
    }
}
