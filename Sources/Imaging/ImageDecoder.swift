import CoreUtilities
import Foundation

/// Decodes PNG and JPEG bytes into upright 8-bit RGB, matching
/// `transformers.image_utils.load_image` followed by the processors' `convert_to_rgb`
/// (see ``DecodeOptions`` for the choices and how to change them).
///
/// ```swift
/// let image = try ImageDecoder.decode(Data(contentsOf: url))
/// print(image.width, image.height, image.id)   // id: the SHA-256 of the bytes
/// ```
public enum ImageDecoder {
    /// Decodes `data`, refusing it with a typed error when it is empty, over `limits`, not a
    /// supported format, corrupt, truncated, or CMYK. The image is named `id`, by default
    /// `ImageID(encoded: data)` (pass it when the caller already computed it).
    public static func decode(
        _ data: Data, id: ImageID? = nil, limits: ImageLimits = .default, options: DecodeOptions = .default
    ) throws(ImageError) -> RGBImage {
        guard !data.isEmpty else { throw .empty }
        guard data.count <= limits.maxEncodedBytes else {
            throw .encodedTooLarge(bytes: data.count, maxBytes: limits.maxEncodedBytes)
        }
        return try decode(bytes: [UInt8](data), limits: limits, options: options).named(id ?? ImageID(encoded: data))
    }

    /// Decodes the file at `url` (checking its size before reading it).
    public static func decode(
        contentsOf url: URL, limits: ImageLimits = .default, options: DecodeOptions = .default
    ) throws(ImageError) -> RGBImage {
        let size: Int
        do {
            size = try url.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0
        } catch {
            throw .corrupt("cannot read \(url.path): \(error.localizedDescription)")
        }
        guard size <= limits.maxEncodedBytes else {
            throw .encodedTooLarge(bytes: size, maxBytes: limits.maxEncodedBytes)
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw .corrupt("cannot read \(url.path): \(error.localizedDescription)")
        }
        return try decode(data, limits: limits, options: options)
    }

    private static func decode(
        bytes: [UInt8], limits: ImageLimits, options: DecodeOptions
    ) throws(ImageError) -> RGBImage {
        guard let format = ImageFormat.detect(bytes) else {
            throw .unsupportedFormat("unrecognised data (not PNG or JPEG)")
        }
        let decoded: DecodedPixels
        let exif: ArraySlice<UInt8>?
        switch format {
        case .png:
            decoded = try PNGDecoder.decode(bytes, limits: limits)
            exif = options.applyEXIFOrientation ? PNGDecoder.exifPayload(bytes) : nil
        case .jpeg:
            decoded = try JPEGDecoder.decode(bytes, limits: limits)
            exif = options.applyEXIFOrientation ? JPEGDecoder.exifPayload(bytes) : nil
        case .gif, .webp, .bmp, .tiff:
            throw .unsupportedFormat(format.rawValue)
        }
        let image = decoded.rgb(alpha: options.alpha)
        guard let exif, let orientation = EXIFOrientation.parse(tiff: exif) else { return image }
        return image.applying(orientation)
    }
}
