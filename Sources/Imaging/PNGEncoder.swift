import CImageCodecs

/// PNG encoding through libpng, for generated images.
///
/// ```swift
/// let png = try PNGEncoder.encode(rgb: pixels, width: 64, height: 64)   // pixels: 64·64·3 bytes
/// try Data(png).write(to: url)
/// ```
public enum PNGEncoder {
    /// Encodes packed 8-bit RGB pixels (rows top to bottom).
    public static func encode(rgb pixels: [UInt8], width: Int, height: Int) throws(ImageError) -> [UInt8] {
        guard width > 0, height > 0, width <= Int(UInt32.max), height <= Int(UInt32.max) else {
            throw .corrupt("PNG: cannot encode a \(width)×\(height) image")
        }
        guard pixels.count == width * height * 3 else {
            throw .invalidPixelBuffer(width: width, height: height, byteCount: pixels.count)
        }
        var message = [CChar](repeating: 0, count: Int(TESSERA_CODEC_MESSAGE_LENGTH))
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status = pixels.withUnsafeBufferPointer { input in
            tessera_png_encode(input.baseAddress, UInt32(width), UInt32(height), 3, &output, &size, &message)
        }
        guard status == 0, let output else {
            throw .corrupt("PNG encoding failed: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        defer { tessera_png_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }

    /// Encodes float RGB values in [0, 1] (`[H, W, 3]`, what a diffusers pipeline returns with
    /// `output_type="np"`) as diffusers' `numpy_to_pil` converts them: `round(x · 255)`.
    public static func encode(unitRGB values: [Float], width: Int, height: Int) throws(ImageError) -> [UInt8] {
        try encode(rgb: quantize(values), width: width, height: height)
    }

    /// `(x · 255).round().astype("uint8")` with x clamped to [0, 1] (half to even, as numpy rounds).
    public static func quantize(_ values: [Float]) -> [UInt8] {
        values.map { UInt8((min(max($0, 0), 1) * 255).rounded(.toNearestOrEven)) }
    }
}
