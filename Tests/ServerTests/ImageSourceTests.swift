import Foundation
import Imaging
@testable import Bench
import Testing

@testable import Server

@Suite struct ImageSourceTests {
    static let png = Data(try! PNGEncoder.encode(rgb: [UInt8](repeating: 200, count: 12), width: 2, height: 2))

    @Test func dataURIsDecode() throws {
        let uri = "data:image/png;base64," + Self.png.base64EncodedString()
        #expect(try ImageSource.parse(uri, param: "p") == .inline(Self.png))
        let wrapped = "data:image/png;base64,\n" + Self.png.base64EncodedString(options: .lineLength64Characters) + " \t"
        #expect(wrapped.contains("\r\n"))
        #expect(try ImageSource.parse(wrapped, param: "p") == .inline(Self.png))
    }

    @Test func badDataURIsAreTyped400s() {
        let cases: [(String, String)] = [
            ("data:image/png;base64,@@@not base64", "invalid_base64"),
            ("data:image/png,plain", "invalid_base64"),
            ("data:text/plain;base64,aGk=", "invalid_image"),
            ("data:image/png;base64", "invalid_image_url"),
            ("file:///etc/passwd", "media_url_not_allowed"),
            ("ftp://example.com/a.png", "invalid_image_url"),
        ]
        for (url, code) in cases {
            #expect(throws: (any Error).self) { try ImageSource.parse(url, param: "p") }
            do {
                _ = try ImageSource.parse(url, param: "p")
            } catch {
                #expect(error.code == code && error.status == .badRequest && error.param == "p", "\(url)")
            }
        }
    }

    @Test func imageErrorsMapToClientErrors() {
        let notImage = ImageLoader.apiError(.unsupportedFormat("unrecognised data"), param: "p")
        #expect(notImage.code == "invalid_image" && notImage.status == .badRequest)
        let large = ImageLoader.apiError(.tooLarge(width: 10_000, height: 10_000, maxPixels: 10), param: "p")
        #expect(large.code == "image_too_large" && large.status == .badRequest)
    }

    @Test func loaderDecodesAndRefusesHostsOutsideTheAllowList() async throws {
        let fetcher = MediaFetcher(allowedDomains: ["localhost"], maxBytes: 1 << 20, timeout: .seconds(2))
        let loader = ImageLoader(limits: ImageLimits(maxEncodedBytes: 1 << 20, maxPixels: 3), fetcher: fetcher, metrics: ServerMetrics(modelName: "m"),
                                 decoded: DecodedImageCache(capacityBytes: 1 << 20))
        let uri = "data:image/png;base64," + Self.png.base64EncodedString()
        await #expect { try await loader.load([.init(url: uri, param: "p")]) } throws: { ($0 as? APIError)?.code == "image_too_large" }
        let decoded = DecodedImageCache(capacityBytes: 1 << 20)
        let roomy = ImageLoader(limits: .default, fetcher: fetcher, metrics: ServerMetrics(modelName: "m"), decoded: decoded)
        let images = try await roomy.load([.init(url: uri, param: "p")])
        #expect(images.map(\.width) == [2])
        // The same bytes again come from the decoded-image cache.
        #expect(try await roomy.load([.init(url: uri, param: "p")]) == images && decoded.count == 1)
        await #expect { try await roomy.load([.init(url: "http://example.com/a.png", param: "p")]) } throws: {
            ($0 as? APIError)?.code == "media_url_not_allowed"
        }
        let junk = "data:image/png;base64," + Data("hello".utf8).base64EncodedString()
        await #expect { try await roomy.load([.init(url: junk, param: "p")]) } throws: { ($0 as? APIError)?.code == "invalid_image" }
        try await fetcher.shutdown()
    }
}
