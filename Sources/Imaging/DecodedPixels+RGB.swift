extension DecodedPixels {
    /// Converts to 8-bit RGB with Pillow's rules: gray is replicated, 16-bit samples keep their
    /// high byte (16-bit gray is clipped at 255, Pillow's `I;16` to `RGB`), and alpha is
    /// composited onto white or dropped.
    func rgb(alpha handling: DecodeOptions.AlphaHandling) -> RGBImage {
        let count = width * height
        var out = [UInt8](repeating: 0, count: count * 3)
        let channels: Int
        let bytesPerSample: Int
        switch layout {
        case .gray8: (channels, bytesPerSample) = (1, 1)
        case .gray16: (channels, bytesPerSample) = (1, 2)
        case .grayAlpha(let bits): (channels, bytesPerSample) = (2, bits / 8)
        case .rgb(let bits): (channels, bytesPerSample) = (3, bits / 8)
        case .rgba(let bits): (channels, bytesPerSample) = (4, bits / 8)
        }
        let stride = channels * bytesPerSample
        let composite = handling == .compositeOnWhite
        samples.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    let p = i * stride
                    var r: UInt8, g: UInt8, b: UInt8
                    switch layout {
                    case .gray8:
                        r = src[p]; g = r; b = r
                    case .gray16:
                        let value = UInt16(src[p]) << 8 | UInt16(src[p + 1])
                        r = UInt8(min(value, 255)); g = r; b = r
                    case .grayAlpha:
                        r = src[p]; g = r; b = r
                        if composite {
                            let a = src[p + bytesPerSample]
                            r = compositeOnWhite(r, alpha: a); g = r; b = r
                        }
                    case .rgb:
                        r = src[p]; g = src[p + bytesPerSample]; b = src[p + 2 * bytesPerSample]
                    case .rgba:
                        r = src[p]; g = src[p + bytesPerSample]; b = src[p + 2 * bytesPerSample]
                        if composite {
                            let a = src[p + 3 * bytesPerSample]
                            r = compositeOnWhite(r, alpha: a)
                            g = compositeOnWhite(g, alpha: a)
                            b = compositeOnWhite(b, alpha: a)
                        }
                    }
                    dst[i * 3] = r; dst[i * 3 + 1] = g; dst[i * 3 + 2] = b
                }
            }
        }
        return RGBImage(unchecked: width, height: height, pixels: out)
    }
}

/// One channel of `PIL.Image.alpha_composite(white, pixel)`: Pillow's fixed-point blend with
/// 7 extra bits and a rounded division by 255. Against an opaque white background its
/// `coef1 = a * 255 * 255 * 128 / outa255` reduces to `a * 128`.
@inline(__always)
func compositeOnWhite(_ value: UInt8, alpha: UInt8) -> UInt8 {
    if alpha == 0 { return 255 }
    let coef1 = UInt32(alpha) * 128
    let coef2 = 255 * 128 - coef1
    let blended = UInt32(value) * coef1 + 255 * coef2 + (0x80 << 7)
    return UInt8((((blended >> 8) + blended) >> 8) >> 7)
}
