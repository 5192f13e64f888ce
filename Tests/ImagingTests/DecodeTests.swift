import CoreUtilities
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

    @Test func decodedImagesAreNamedByTheirBytes() throws {
        let data = try Data(contentsOf: Fixtures.good("gradient.png"))
        let image = try ImageDecoder.decode(data)
        #expect(image.id.hex == SHA256.hex([UInt8](data)))
        // Copies keep the name; the same pixels built again are named by their pixels instead.
        let copy = image
        #expect(copy.id == image.id)
        let header: [UInt8] = [0, 0, 0, 64, 0, 0, 0, 48]
        let rebuilt = try RGBImage(width: 64, height: 48, pixels: image.pixels)
        #expect(rebuilt.id.hex == SHA256.hex(header + image.pixels))
        // Same bytes, other shape: a different identity.
        let reshaped = try RGBImage(width: 48, height: 64, pixels: image.pixels)
        #expect(reshaped.id != rebuilt.id)
        // An id travelling with pixels (over the wire) is kept, not recomputed.
        #expect(try RGBImage(width: 64, height: 48, pixels: image.pixels, id: image.id).id == image.id)
        #expect(ImageID(hex: image.id.hex) == image.id)
    }

    @Test func idsAddressTheBytesReceived() throws {
        let image = try ImageDecoder.decode(contentsOf: Fixtures.good("gradient.png"))
        // The same pixels in other bytes: equal images, another name.
        let reencoded = try ImageDecoder.decode(Data(PNGEncoder.encode(rgb: image.pixels, width: image.width, height: image.height)))
        #expect(reencoded == image)
        #expect(reencoded.id != image.id)
        #expect(try ImageDecoder.decode(contentsOf: Fixtures.good("gradient.png")).id == image.id)
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
