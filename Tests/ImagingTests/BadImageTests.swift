import Foundation
import Testing
@testable import Imaging

@Suite struct BadImageTests {
    static let badImages = Fixtures.references.bad.keys.sorted()

    @Test(arguments: badImages)
    func failsWithTypedError(name: String) throws {
        let expected = try #require(Fixtures.references.bad[name])
        let data = try Data(contentsOf: Fixtures.bad(name))
        do {
            _ = try ImageDecoder.decode(data)
            Issue.record("\(name) decoded, expected \(expected)")
        } catch {
            #expect(Self.caseName(error) == expected, "\(name): \(error)")
            #expect(!error.description.isEmpty)
        }
    }

    @Test func encodedSizeLimitIsCheckedFirst() throws {
        let data = try Data(contentsOf: Fixtures.good("noisy.jpg"))
        let limits = ImageLimits(maxEncodedBytes: 1000, maxPixels: .max)
        #expect(throws: ImageError.encodedTooLarge(bytes: data.count, maxBytes: 1000)) {
            try ImageDecoder.decode(data, limits: limits)
        }
        #expect(throws: ImageError.encodedTooLarge(bytes: data.count, maxBytes: 1000)) {
            try ImageDecoder.decode(contentsOf: Fixtures.good("noisy.jpg"), limits: limits)
        }
    }

    @Test func pixelLimitAppliesToRealImages() throws {
        let limits = ImageLimits(maxEncodedBytes: .max, maxPixels: 333 * 257 - 1)
        #expect(throws: ImageError.tooLarge(width: 333, height: 257, maxPixels: 333 * 257 - 1)) {
            try ImageDecoder.decode(contentsOf: Fixtures.good("noisy.jpg"), limits: limits)
        }
        let exact = ImageLimits(maxEncodedBytes: .max, maxPixels: 333 * 257)
        #expect(try ImageDecoder.decode(contentsOf: Fixtures.good("noisy.jpg"), limits: exact).width == 333)
    }

    @Test func everyTruncationOfAPNGAndJPEGIsRejected() throws {
        for name in ["gray.png", "exif_3.jpg"] {
            let bytes = [UInt8](try Data(contentsOf: Fixtures.good(name)))
            // Cutting anywhere before the image data ends must give a typed error, never a crash.
            for length in stride(from: 1, to: bytes.count - 12, by: 7) {
                #expect(throws: ImageError.self) { try ImageDecoder.decode(Data(bytes[..<length])) }
            }
        }
    }

    @Test func missingFileIsATypedError() {
        #expect(throws: ImageError.self) {
            try ImageDecoder.decode(contentsOf: Fixtures.bad("does-not-exist.png"))
        }
    }

    @Test func rawBuffersAreValidated() {
        #expect(throws: ImageError.invalidPixelBuffer(width: 2, height: 2, byteCount: 11)) {
            try RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 11))
        }
        #expect(throws: ImageError.self) { try RGBImage(width: 0, height: 5, pixels: []) }
    }

    static func caseName(_ error: ImageError) -> String {
        switch error {
        case .empty: "empty"
        case .encodedTooLarge: "encodedTooLarge"
        case .tooLarge: "tooLarge"
        case .unsupportedFormat: "unsupportedFormat"
        case .corrupt: "corrupt"
        case .cmykNotSupported: "cmykNotSupported"
        case .invalidPixelBuffer: "invalidPixelBuffer"
        }
    }
}
