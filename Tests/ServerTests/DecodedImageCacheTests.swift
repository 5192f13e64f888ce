import CoreUtilities
import Foundation
import Imaging
import Testing

@testable import Server

@Suite struct DecodedImageCacheTests {
    func image(_ value: UInt8, side: Int = 4) throws -> RGBImage {
        try RGBImage(width: side, height: side, pixels: Array(repeating: value, count: side * side * 3))
    }

    @Test func sameBytesHitAndOtherBytesMiss() throws {
        let cache = DecodedImageCache(capacityBytes: 1 << 20)
        let red = try image(200)
        cache.insert(red, for: .init(encoded: Data("png-a".utf8)))
        #expect(cache.image(for: .init(encoded: Data("png-a".utf8))) == red)
        #expect(cache.image(for: .init(encoded: Data("png-b".utf8))) == nil)
    }

    /// Over capacity the least recently used image leaves; one larger than the whole cache is not kept.
    @Test func capacityEvictsTheLeastRecentlyUsed() throws {
        let cache = DecodedImageCache(capacityBytes: 2 * 48)
        let a = ImageID(encoded: Data("a".utf8)), b = ImageID(encoded: Data("b".utf8)), c = ImageID(encoded: Data("c".utf8))
        cache.insert(try image(1), for: a)
        cache.insert(try image(2), for: b)
        _ = cache.image(for: a)
        cache.insert(try image(3), for: c)
        #expect(cache.image(for: a) != nil && cache.image(for: b) == nil && cache.image(for: c) != nil)
        cache.insert(try image(4, side: 8), for: b)
        #expect(cache.image(for: b) == nil && cache.count == 2)
        #expect(DecodedImageCache(capacityBytes: 0).insert(try image(5), for: a).pixels.first == 5)
    }
}
