import Foundation

/// The PIL-backend pipeline shared by `CLIPImageProcessor` and `SiglipImageProcessor` (and
/// LLaVA-1.5, which uses CLIP's): resize, optional center crop, rescale, normalize, giving
/// `[3, height, width]` float32 values.
///
/// ```swift
/// let clip = try ResizeCropImageProcessor(kind: .clip, configData: json)
/// let input = try clip.preprocess(image)   // input.shape == [3, 224, 224]
/// ```
public struct ResizeCropImageProcessor: ImageProcessor, Equatable {
    /// Which transformers class supplies the defaults for fields the config leaves out.
    public enum Kind: String, Sendable {
        case clip = "CLIPImageProcessor"
        case siglip = "SiglipImageProcessor"
    }

    public var kind: Kind
    public var doResize: Bool
    public var resize: ResizeRule
    public var resample: ResampleFilter
    public var doCenterCrop: Bool
    public var cropHeight: Int
    public var cropWidth: Int
    public var normalization: PixelNormalization
    /// Pads (bottom and right, with zeros) to `padHeight` × `padWidth` when set (`do_pad` with `pad_size`).
    public var padSize: (height: Int, width: Int)?

    /// Builds the processor from `preprocessor_config.json` contents, falling back to the
    /// class defaults of `kind` as `from_pretrained` does.
    public init(kind: Kind, configData: Data) throws(ImageProcessorError) {
        try self.init(kind: kind, config: ProcessorConfig(data: configData))
    }

    init(kind: Kind, config: ProcessorConfig) throws(ImageProcessorError) {
        self.kind = kind
        let defaultToSquare = try config.bool("default_to_square", default: false)
        let defaultSize: [String: Int] = kind == .clip ? ["shortest_edge": 224] : ["height": 224, "width": 224]
        let size = try config.sizeDictionary("size", defaultToSquare: defaultToSquare) ?? defaultSize
        doResize = try config.bool("do_resize", default: true)
        resize = try ResizeRule(dictionary: size)
        resample = try config.resample(default: .bicubic)
        doCenterCrop = try config.bool("do_center_crop", default: kind == .clip)
        let crop = try config.sizeDictionary("crop_size", defaultToSquare: true) ?? ["height": 224, "width": 224]
        if doCenterCrop {
            guard let height = crop["height"], let width = crop["width"], height > 0, width > 0 else {
                throw .invalidConfig("crop_size must have positive height and width")
            }
            (cropHeight, cropWidth) = (height, width)
        } else {
            (cropHeight, cropWidth) = (crop["height"] ?? 0, crop["width"] ?? 0)
        }
        let (mean, std) = kind == .clip ? (openAICLIPMean, openAICLIPStd) : (imageNetStandardMean, imageNetStandardStd)
        normalization = PixelNormalization(
            doRescale: try config.bool("do_rescale", default: true),
            rescaleFactor: try config.double("rescale_factor", default: 1.0 / 255.0),
            doNormalize: try config.bool("do_normalize", default: true),
            mean: try config.channelValues("image_mean", default: mean),
            std: try config.channelValues("image_std", default: std))
        if try config.bool("do_pad", default: false), let pad = try config.sizeDictionary("pad_size", defaultToSquare: true) {
            guard let height = pad["height"], let width = pad["width"] else {
                throw .invalidConfig("pad_size must have height and width")
            }
            padSize = (height, width)
        }
        if case .exact(let h, let w) = resize, doResize, h == 0 || w == 0 { throw .invalidConfig("size must be positive") }
    }

    /// The most pixels an image is resized to before its crop (`4096 × 4096`).
    public static let maxResizedPixels = 1 << 24

    public func checkSize(height: Int, width: Int) throws(ImageProcessorError) {
        guard doResize else { return }
        let target = resize.outputSize(height: height, width: width)
        guard target.height > 0, target.width > 0 else {
            throw .invalidImage("\(width)x\(height) resizes to an empty \(target.width)x\(target.height) image")
        }
        let pixels = target.height.multipliedReportingOverflow(by: target.width)
        guard !pixels.overflow, pixels.partialValue <= Self.maxResizedPixels else {
            throw .invalidImage(
                "\(width)x\(height) would resize to \(target.width)x\(target.height), more than \(Self.maxResizedPixels) pixels: "
                    + "its aspect ratio is too extreme")
        }
    }

    public func preprocess(_ image: RGBImage) throws(ImageProcessorError) -> PreprocessedImage {
        var image = image
        try checkSize(height: image.height, width: image.width)
        if doResize {
            let target = resize.outputSize(height: image.height, width: image.width)
            image = image.resized(width: target.width, height: target.height, filter: resample)
        }
        if doCenterCrop {
            image = image.centerCropped(height: cropHeight, width: cropWidth)
        }
        if let padSize {
            guard padSize.height >= image.height, padSize.width >= image.width else {
                throw .invalidImage("\(image.width)x\(image.height) is larger than pad_size \(padSize.width)x\(padSize.height)")
            }
            image = image.padded(height: padSize.height, width: padSize.width)
        }
        return PreprocessedImage(pixelValues: normalization.channelsFirst(image), shape: [3, image.height, image.width])
    }

    public var cacheKey: String {
        var parts = [kind.rawValue]
        parts.append(doResize ? "resize=\(resize.cacheKey),\(resample)" : "resize=off")
        parts.append(doCenterCrop ? "crop=\(cropHeight)x\(cropWidth)" : "crop=off")
        if let padSize { parts.append("pad=\(padSize.height)x\(padSize.width)") }
        parts.append(normalization.cacheKey)
        return parts.joined(separator: ";")
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.cacheKey == rhs.cacheKey }
}

/// `OPENAI_CLIP_MEAN` / `OPENAI_CLIP_STD` of transformers.
let openAICLIPMean = [0.48145466, 0.4578275, 0.40821073]
let openAICLIPStd = [0.26862954, 0.26130258, 0.27577711]
/// `IMAGENET_STANDARD_MEAN` / `IMAGENET_STANDARD_STD` of transformers.
let imageNetStandardMean = [0.5, 0.5, 0.5]
let imageNetStandardStd = [0.5, 0.5, 0.5]

extension RGBImage {
    /// Pads with black on the bottom and right (`PilBackend.pad`, constant mode).
    func padded(height newHeight: Int, width newWidth: Int) -> RGBImage {
        if newHeight == height && newWidth == width { return self }
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        for y in 0..<height {
            let s = y * width * 3, d = y * newWidth * 3
            out[d..<d + width * 3] = pixels[s..<s + width * 3]
        }
        return RGBImage(unchecked: newWidth, height: newHeight, pixels: out)
    }
}
