import Foundation
import Testing
@testable import Imaging

@Suite("PNG encoding")
struct PNGEncoderTests {
    /// Encoded pixels decode back unchanged through libpng and the decoder the server uses.
    @Test func roundTrips() throws {
        let (width, height) = (37, 23)
        let pixels = (0 ..< width * height * 3).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }
        let png = try PNGEncoder.encode(rgb: pixels, width: width, height: height)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let decoded = try ImageDecoder.decode(Data(png))
        #expect(decoded.width == width && decoded.height == height)
        #expect(decoded.pixels == pixels)
    }

    /// diffusers' `numpy_to_pil`: `(x * 255).round()` on values already clamped to [0, 1].
    @Test func quantizesLikeNumpy() {
        #expect(PNGEncoder.quantize([0, 1, 0.5, 2 / 255, 0.5 / 255, -0.2, 1.3]) == [0, 255, 128, 2, 0, 0, 255])
    }

    @Test func rejectsMismatchedBuffers() {
        #expect(throws: ImageError.self) { try PNGEncoder.encode(rgb: [1, 2, 3], width: 2, height: 1) }
        #expect(throws: ImageError.self) { try PNGEncoder.encode(rgb: [], width: 0, height: 0) }
    }
}
