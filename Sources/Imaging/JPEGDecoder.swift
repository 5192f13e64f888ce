import CImageCodecs

/// JPEG through libjpeg-turbo: baseline and progressive, grayscale and YCbCr/RGB.
/// CMYK and YCCK files are refused with ``ImageError/cmykNotSupported``.
enum JPEGDecoder {
    static func decode(_ bytes: [UInt8], limits: ImageLimits) throws(ImageError) -> DecodedPixels {
        var info = TesseraJPEGInfo()
        let headerStatus = bytes.withUnsafeBufferPointer { tessera_jpeg_read_info($0.baseAddress, $0.count, &info) }
        guard headerStatus == 0 else { throw .corrupt("JPEG: \(message(of: &info))") }

        let colorSpace = Int(info.color_space)
        if colorSpace == Int(TESSERA_JCS_CMYK) || colorSpace == Int(TESSERA_JCS_YCCK) || info.components == 4 {
            throw .cmykNotSupported
        }
        let gray = colorSpace == Int(TESSERA_JCS_GRAYSCALE)
        guard gray || colorSpace == Int(TESSERA_JCS_YCBCR) || colorSpace == Int(TESSERA_JCS_RGB) else {
            throw .unsupportedFormat("JPEG with colour space \(colorSpace) and \(info.components) components")
        }

        let (width, height) = (Int(info.width), Int(info.height))
        try checkPixelLimit(width: width, height: height, limits: limits)
        var samples = [UInt8](repeating: 0, count: width * height * (gray ? 1 : 3))
        let status = bytes.withUnsafeBufferPointer { input in
            samples.withUnsafeMutableBufferPointer { output in
                tessera_jpeg_decode(input.baseAddress, input.count, output.baseAddress, output.count, &info)
            }
        }
        guard status == 0 else { throw .corrupt("JPEG: \(message(of: &info))") }
        return DecodedPixels(width: width, height: height, layout: gray ? .gray8 : .rgb(bits: 8), samples: samples)
    }

    /// The TIFF payload of the first APP1 `Exif\0\0` segment (the one Pillow keeps).
    static func exifPayload(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
        var offset = 2
        while offset + 4 <= bytes.count {
            guard bytes[offset] == 0xFF else { return nil }
            let marker = bytes[offset + 1]
            if marker == 0xFF { offset += 1; continue }  // fill byte
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { offset += 2; continue }
            if marker == 0xDA || marker == 0xD9 { return nil }  // entropy-coded data or end: no more headers
            let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let start = offset + 4
            let end = offset + 2 + length
            guard length >= 2, end <= bytes.count else { return nil }
            let exifHeader: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0x00, 0x00]
            if marker == 0xE1, end - start >= 6, bytes[start..<start + 6].elementsEqual(exifHeader) {
                return bytes[(start + 6)..<end]
            }
            offset = end
        }
        return nil
    }

    private static func message(of info: inout TesseraJPEGInfo) -> String {
        withUnsafeBytes(of: &info.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
