/// Samples as a codec produced them, before conversion to RGB.
struct DecodedPixels {
    /// How the samples are laid out and what Pillow would call the mode.
    enum Layout {
        /// 8-bit gray, or Pillow's `L` / `1` modes.
        case gray8
        /// 16-bit big-endian gray: Pillow's `I;16` mode, which converts to RGB by clipping at 255.
        case gray16
        /// Gray plus alpha, 8 or 16 bits (Pillow keeps the high byte of 16-bit samples).
        case grayAlpha(bits: Int)
        case rgb(bits: Int)
        case rgba(bits: Int)
    }

    let width: Int
    let height: Int
    let layout: Layout
    let samples: [UInt8]
}
