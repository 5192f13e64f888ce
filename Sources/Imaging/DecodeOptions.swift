/// How decoded pixels are turned into an upright RGB image.
///
/// The defaults reproduce what a Hugging Face processor sees for an uploaded file:
/// `transformers.image_utils.load_image` applies `PIL.ImageOps.exif_transpose`, so the EXIF
/// orientation is applied; and the processors' `convert_to_rgb` composites transparent pixels
/// onto white. (`load_image` itself calls `convert("RGB")`, which simply drops alpha; choose
/// ``AlphaHandling/discard`` to reproduce that path.)
public struct DecodeOptions: Sendable, Equatable {
    /// What to do with an alpha channel or a PNG tRNS transparency.
    public enum AlphaHandling: Sendable, Equatable {
        /// Blend onto an opaque white background exactly as `PIL.Image.alpha_composite` does
        /// (`transformers.image_transforms.convert_to_rgb`).
        case compositeOnWhite
        /// Drop alpha and keep the stored colour, as `PIL.Image.convert("RGB")` does.
        case discard
    }

    /// Rotate/flip according to the EXIF orientation tag (JPEG APP1 or PNG eXIf).
    public var applyEXIFOrientation: Bool
    public var alpha: AlphaHandling

    public init(applyEXIFOrientation: Bool = true, alpha: AlphaHandling = .compositeOnWhite) {
        self.applyEXIFOrientation = applyEXIFOrientation
        self.alpha = alpha
    }

    public static let `default` = DecodeOptions()
}
