/// The EXIF `Orientation` tag (0x0112): how the stored pixels must be transformed to be upright.
///
/// Raw values follow the EXIF specification; the transforms are those of
/// `PIL.ImageOps.exif_transpose`.
public enum EXIFOrientation: Int, Sendable, CaseIterable {
    case up = 1
    case upMirrored = 2
    case down = 3
    case downMirrored = 4
    case leftMirrored = 5
    case right = 6
    case rightMirrored = 7
    case left = 8

    /// Whether the upright image swaps width and height.
    public var swapsDimensions: Bool { rawValue >= 5 }

    /// Reads the orientation from a TIFF-structured EXIF payload (the bytes after `Exif\0\0`).
    /// Returns `nil` when the payload is malformed, has no orientation, or an out-of-range value;
    /// like Pillow, a broken EXIF block never makes the image itself unreadable.
    static func parse(tiff: ArraySlice<UInt8>) -> EXIFOrientation? {
        let bytes = Array(tiff)
        guard bytes.count >= 8 else { return nil }
        let bigEndian: Bool
        switch (bytes[0], bytes[1]) {
        case (0x49, 0x49): bigEndian = false
        case (0x4D, 0x4D): bigEndian = true
        default: return nil
        }
        func u16(_ offset: Int) -> Int? {
            guard offset >= 0, offset + 2 <= bytes.count else { return nil }
            let (a, b) = (Int(bytes[offset]), Int(bytes[offset + 1]))
            return bigEndian ? a << 8 | b : b << 8 | a
        }
        func u32(_ offset: Int) -> Int? {
            guard let high = u16(bigEndian ? offset : offset + 2), let low = u16(bigEndian ? offset + 2 : offset)
            else { return nil }
            return high << 16 | low
        }
        guard u16(2) == 42, let ifd = u32(4), let entries = u16(ifd) else { return nil }
        for index in 0..<entries {
            let entry = ifd + 2 + index * 12
            guard let tag = u16(entry), let type = u16(entry + 2) else { return nil }
            guard tag == 0x0112 else { continue }
            let value: Int?
            switch type {
            case 3: value = u16(entry + 8)  // SHORT
            case 4: value = u32(entry + 8)  // LONG
            default: value = nil
            }
            return value.flatMap(EXIFOrientation.init(rawValue:))
        }
        return nil
    }
}

extension RGBImage {
    /// Returns the image transformed so that it displays upright for `orientation`.
    public func applying(_ orientation: EXIFOrientation) -> RGBImage {
        if orientation == .up { return self }
        let (w, h) = (width, height)
        let (outWidth, outHeight) = orientation.swapsDimensions ? (h, w) : (w, h)
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<outHeight {
                    for x in 0..<outWidth {
                        let (sx, sy): (Int, Int)
                        switch orientation {
                        case .up: (sx, sy) = (x, y)
                        case .upMirrored: (sx, sy) = (w - 1 - x, y)
                        case .down: (sx, sy) = (w - 1 - x, h - 1 - y)
                        case .downMirrored: (sx, sy) = (x, h - 1 - y)
                        case .leftMirrored: (sx, sy) = (y, x)
                        case .right: (sx, sy) = (y, h - 1 - x)
                        case .rightMirrored: (sx, sy) = (w - 1 - y, h - 1 - x)
                        case .left: (sx, sy) = (w - 1 - y, x)
                        }
                        let s = (sy * w + sx) * 3
                        let d = (y * outWidth + x) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(unchecked: outWidth, height: outHeight, pixels: out)
    }
}
