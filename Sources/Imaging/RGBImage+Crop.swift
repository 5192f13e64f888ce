extension RGBImage {
    /// Center crop as transformers' `center_crop`: the offset rounds toward the top-left, and a
    /// crop larger than the image pads with black (the image placed at `ceil(padding / 2)`).
    ///
    /// - Precondition: `height > 0 && width > 0`.
    public func centerCropped(height cropHeight: Int, width cropWidth: Int) -> RGBImage {
        precondition(cropHeight > 0 && cropWidth > 0, "crop size must be positive")
        // Python's `(size - crop) // 2` (floor division). When padding is needed the padded
        // image is sliced from 0, which maps back to the same source offset.
        func origin(_ size: Int, _ crop: Int) -> Int {
            size >= crop ? (size - crop) / 2 : -((crop - size + 1) / 2)
        }
        let top = origin(height, cropHeight), left = origin(width, cropWidth)
        var out = [UInt8](repeating: 0, count: cropWidth * cropHeight * 3)
        for y in 0..<cropHeight {
            let sy = y + top
            guard sy >= 0, sy < height else { continue }
            for x in 0..<cropWidth {
                let sx = x + left
                guard sx >= 0, sx < width else { continue }
                let s = (sy * width + sx) * 3, d = (y * cropWidth + x) * 3
                out[d] = pixels[s]; out[d + 1] = pixels[s + 1]; out[d + 2] = pixels[s + 2]
            }
        }
        return RGBImage(unchecked: cropWidth, height: cropHeight, pixels: out)
    }
}
