/// Why an encoded image could not be turned into pixels.
///
/// Every case describes bad input (never a programming error), so servers can map it to a
/// client error such as HTTP 400.
public enum ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The input holds no bytes at all.
    case empty
    /// The encoded input is larger than ``ImageLimits/maxEncodedBytes``.
    case encodedTooLarge(bytes: Int, maxBytes: Int)
    /// The header declares more pixels than ``ImageLimits/maxPixels`` (a decompression bomb guard).
    case tooLarge(width: Int, height: Int, maxPixels: Int)
    /// The bytes are not a format Tessera decodes; the payload names what was recognised.
    case unsupportedFormat(String)
    /// The data claims to be a supported format but cannot be decoded.
    case corrupt(String)
    /// CMYK and YCCK JPEGs are refused rather than converted with a guessed colour profile.
    case cmykNotSupported
    /// A raw pixel buffer does not match the dimensions it was given with.
    case invalidPixelBuffer(width: Int, height: Int, byteCount: Int)

    public var description: String {
        switch self {
        case .empty:
            return "image data is empty"
        case .encodedTooLarge(let bytes, let maxBytes):
            return "encoded image is \(bytes) bytes, more than the limit of \(maxBytes) bytes"
        case .tooLarge(let width, let height, let maxPixels):
            return "image is \(width)x\(height) (\(width * height) pixels), more than the limit of \(maxPixels) pixels"
        case .unsupportedFormat(let format):
            return "unsupported image format: \(format)"
        case .corrupt(let reason):
            return "corrupt image data: \(reason)"
        case .cmykNotSupported:
            return "CMYK/YCCK JPEG images are not supported; convert the image to RGB"
        case .invalidPixelBuffer(let width, let height, let byteCount):
            return "pixel buffer of \(byteCount) bytes does not hold a \(width)x\(height) RGB image"
        }
    }
}
