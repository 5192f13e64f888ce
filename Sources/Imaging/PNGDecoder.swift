import CImageCodecs

/// PNG through libpng (all colour types, bit depths 1–16, palettes, tRNS, Adam7 interlacing).
enum PNGDecoder {
    static func decode(_ bytes: [UInt8], limits: ImageLimits) throws(ImageError) -> DecodedPixels {
        var info = TesseraPNGInfo()
        let headerStatus = bytes.withUnsafeBufferPointer { tessera_png_read_info($0.baseAddress, $0.count, &info) }
        guard headerStatus == 0 else { throw .corrupt("PNG: \(message(of: &info))") }

        let (width, height) = (Int(info.width), Int(info.height))
        try checkPixelLimit(width: width, height: height, limits: limits)
        let bytesPerPixel = Int(info.channels) * Int(info.sample_bits) / 8
        let capacity = width * height * bytesPerPixel
        var samples = [UInt8](repeating: 0, count: capacity)
        let status = bytes.withUnsafeBufferPointer { input in
            samples.withUnsafeMutableBufferPointer { output in
                tessera_png_decode(input.baseAddress, input.count, output.baseAddress, output.count, &info)
            }
        }
        guard status == 0 else { throw .corrupt("PNG: \(message(of: &info))") }

        let bits = Int(info.sample_bits)
        let layout: DecodedPixels.Layout
        switch (info.channels, bits) {
        case (1, 8): layout = .gray8
        case (1, 16): layout = .gray16
        case (2, _): layout = .grayAlpha(bits: bits)
        case (3, _): layout = .rgb(bits: bits)
        case (4, _): layout = .rgba(bits: bits)
        default: throw .corrupt("PNG: unexpected layout of \(info.channels) channels at \(bits) bits")
        }
        return DecodedPixels(width: width, height: height, layout: layout, samples: samples)
    }

    /// The TIFF payload of the first `eXIf` chunk, which Pillow reads wherever it appears.
    static func exifPayload(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
        var offset = 8
        while offset + 12 <= bytes.count {
            let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16
                | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let type = bytes[offset + 4..<offset + 8]
            let dataStart = offset + 8
            guard length <= bytes.count - dataStart else { return nil }
            if type.elementsEqual("eXIf".utf8) {
                return bytes[dataStart..<dataStart + length]
            }
            if type.elementsEqual("IEND".utf8) { return nil }
            offset = dataStart + length + 4
        }
        return nil
    }

    private static func message(of info: inout TesseraPNGInfo) -> String {
        withUnsafeBytes(of: &info.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

/// Refuses headers that declare more pixels than allowed, before any pixel memory exists.
func checkPixelLimit(width: Int, height: Int, limits: ImageLimits) throws(ImageError) {
    guard width > 0, height > 0 else { throw .corrupt("image has no pixels (\(width)x\(height))") }
    let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
    guard !overflow, pixels <= limits.maxPixels else {
        throw .tooLarge(width: width, height: height, maxPixels: limits.maxPixels)
    }
}
