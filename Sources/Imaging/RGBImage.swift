import CoreUtilities

/// An 8-bit RGB image, pixels interleaved row by row (`R G B R G B …`), top row first.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` bytes.
    public let pixels: [UInt8]
    /// `id`, once known; shared by copies of the value, whose pixels are the same.
    let idMemo: ImageIDMemo

    /// Wraps an existing RGB buffer, checking that its size matches the dimensions. `id`: the
    /// image's identity when it is already known (it travelled with the pixels); nil names the
    /// image by its pixels when first asked.
    public init(width: Int, height: Int, pixels: [UInt8], id: ImageID? = nil) throws(ImageError) {
        let (count, overflow) = width.multipliedReportingOverflow(by: height)
        guard width > 0, height > 0, !overflow, count <= Int.max / 3, count * 3 == pixels.count else {
            throw .invalidPixelBuffer(width: width, height: height, byteCount: pixels.count)
        }
        self.init(unchecked: width, height: height, pixels: pixels, id: id)
    }

    /// For buffers built inside the module, whose size is correct by construction.
    init(unchecked width: Int, height: Int, pixels: [UInt8], id: ImageID? = nil) {
        self.width = width
        self.height = height
        self.pixels = pixels
        idMemo = ImageIDMemo(id)
    }

    /// The same pixels named `id` (the image's bytes as they were received).
    public func named(_ id: ImageID) -> RGBImage {
        RGBImage(unchecked: width, height: height, pixels: pixels, id: id)
    }

    public static func == (a: RGBImage, b: RGBImage) -> Bool {
        a.width == b.width && a.height == b.height && a.pixels == b.pixels
    }

    /// The RGB triple at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        let offset = (y * width + x) * 3
        return (pixels[offset], pixels[offset + 1], pixels[offset + 2])
    }
}
