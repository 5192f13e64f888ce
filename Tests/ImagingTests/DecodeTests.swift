import Crypto
import Foundation
import Testing
@testable import Imaging

@Suite struct DecodeTests {
    static let goodImages = Fixtures.references.decode.keys.sorted()

    @Test(arguments: goodImages)
    func matchesPillowAndTransformers(name: String) throws {
        let reference = try #require(Fixtures.references.decode[name])
        let image = try ImageDecoder.decode(contentsOf: Fixtures.good(name))
        #expect(image.width == reference.width)
        #expect(image.height == reference.height)
        for sample in reference.samples {
            let (r, g, b) = image[sample[0], sample[1]]
            #expect([Int(r), Int(g), Int(b)] == Array(sample[2...]), "pixel (\(sample[0]), \(sample[1]))")
        }
        #expect(SHA256.hex(image.pixels) == reference.sha256)
    }

    @Test(arguments: goodImages)
    func withoutEXIFOrientationMatchesPlainOpen(name: String) throws {
        let reference = try #require(Fixtures.references.decode[name])
        let options = DecodeOptions(applyEXIFOrientation: false)
        let image = try ImageDecoder.decode(contentsOf: Fixtures.good(name), options: options)
        #expect(SHA256.hex(image.pixels) == reference.no_exif_sha256)
    }

    @Test(arguments: goodImages)
    func discardingAlphaMatchesLoadImage(name: String) throws {
        let reference = try #require(Fixtures.references.decode[name])
        let options = DecodeOptions(alpha: .discard)
        let image = try ImageDecoder.decode(contentsOf: Fixtures.good(name), options: options)
        #expect(SHA256.hex(image.pixels) == reference.discard_alpha_sha256)
    }

    @Test func contentHashCoversDimensionsAndPixels() throws {
        let image = try ImageDecoder.decode(contentsOf: Fixtures.good("gradient.png"))
        let header: [UInt8] = [0, 0, 0, 64, 0, 0, 0, 48]
        #expect(image.contentHash == SHA256.hex(header + image.pixels))
        // Same bytes, other shape: a different identity.
        let reshaped = try RGBImage(width: 48, height: 64, pixels: image.pixels)
        #expect(reshaped.contentHash != image.contentHash)
    }

    @Test func contentHashIsStableAcrossOrientationEncodings() throws {
        // exif_6.jpg and exif_6_motorola.jpg hold the same JPEG data with little- and big-endian EXIF.
        let little = try ImageDecoder.decode(contentsOf: Fixtures.good("exif_6.jpg"))
        let big = try ImageDecoder.decode(contentsOf: Fixtures.good("exif_6_motorola.jpg"))
        #expect(little.width == 7 && little.height == 13)
        #expect(little.contentHash == big.contentHash)
    }

    @Test func orientationsComposeAsRotations() throws {
        let image = try RGBImage(width: 3, height: 2, pixels: (0..<18).map(UInt8.init))
        // Rotating right four times is the identity; mirroring twice is the identity.
        var turned = image
        for _ in 0..<4 { turned = turned.applying(.right) }
        #expect(turned == image)
        #expect(image.applying(.upMirrored).applying(.upMirrored) == image)
        #expect(image.applying(.right).applying(.left) == image)
        #expect(image.applying(.down) == image.applying(.right).applying(.right))
    }
}
