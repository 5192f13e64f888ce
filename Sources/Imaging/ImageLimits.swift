/// Resource limits applied before an image is decoded.
///
/// Both limits are checked before any pixel memory is allocated: the encoded size first, then
/// the dimensions declared in the file header.
///
/// ```swift
/// let limits = ImageLimits(maxEncodedBytes: 8 << 20, maxPixels: 4096 * 4096)
/// let image = try ImageDecoder.decode(data, limits: limits)
/// ```
public struct ImageLimits: Sendable, Equatable {
    /// Largest accepted encoded input, in bytes.
    public var maxEncodedBytes: Int
    /// Largest accepted `width * height` declared by the header.
    public var maxPixels: Int

    public init(maxEncodedBytes: Int, maxPixels: Int) {
        self.maxEncodedBytes = maxEncodedBytes
        self.maxPixels = maxPixels
    }

    /// 64 MiB encoded and Pillow's `Image.MAX_IMAGE_PIXELS` (89,478,485 pixels) decoded.
    public static let `default` = ImageLimits(maxEncodedBytes: 64 << 20, maxPixels: 89_478_485)
}
