import Diffusion
import Dispatch
import Foundation
import Imaging
import Models
import Simulator
import Tensor

/// Profiles a diffusers Stable Diffusion folder on the real pipeline and fits the image worker's
/// costs (``CostModel/Diffusion``): step-batched UNet calls of guided images by batch size and
/// size, VAE decode, an image's admission (text encoding and initial noise), and, when given, a
/// LoRA's load (file read and parse, the server's loader thread), bind (to the model, on the step
/// loop when the LoRA joins), merge (merge into the UNet and restore) and unmerged use (a guided
/// step whose rows carry the LoRA less one without, per row), and one ControlNet call (likewise).
/// One more, untimed call of each UNet batch and decode measures the images' activation memory
/// (`ActivationSpan`), as does every admission: what an admitted image keeps, a UNet call's peak
/// per row and pixel, a decode's per pixel (``CostModel/Diffusion/memory``).
///
/// ```swift
/// var settings = DiffusionProfileSettings()
/// settings.lora = URL(fileURLWithPath: "fixtures/diffusion/loras/sd1-tiny-peft.safetensors")
/// let costs = try DiffusionProfiler.profile(directory: URL(fileURLWithPath: "fixtures/diffusion/sd1-tiny"), settings: settings)
/// ```
public enum DiffusionProfiler {
    public static func profile(directory: URL, settings: DiffusionProfileSettings) throws(ProfileError) -> CostModel.Diffusion {
        try settings.validate()
        let pipeline: StableDiffusionPipeline
        do { pipeline = try StableDiffusionPipeline(directory: directory) } catch { throw .modelFailed("\(error)") }
        let sizes = settings.sizes ?? [(pipeline.defaultSize, pipeline.defaultSize), (2 * pipeline.defaultSize, 2 * pipeline.defaultSize)]
        let runs = settings.runs
        let request = { (size: (width: Int, height: Int), seed: UInt64) in
            // Enough steps that the warm-up and every timed call find each state unfinished.
            TextToImageRequest(prompt: "a lighthouse at dusk", steps: runs + 4, guidanceScale: 7.5, width: size.width, height: size.height, seed: seed)
        }
        var memory = CostModel.Diffusion.Memory(keptBytes: 0, stepBytesPerRowPixel: 0, vaeBytesPerPixel: 0)
        func start(_ r: TextToImageRequest) throws(ProfileError) -> DenoisingState {
            let (state, span) = try ActivationSpan.measure { () throws(ProfileError) in
                do { return try pipeline.start(r) } catch { throw .modelFailed("\(error)") }
            }
            memory.keptBytes = max(memory.keptBytes, span.liveBytes)
            return state
        }
        func stepMs(_ requests: [TextToImageRequest]) throws(ProfileError) -> Double {
            var states: [DenoisingState] = []
            for r in requests { states.append(try start(r)) }
            func denoise() throws(ProfileError) {
                do { try pipeline.denoise(&states) } catch { throw .modelFailed("\(error)") }
            }
            let ms = try ProfileStatistics.medianMilliseconds(runs: runs, denoise)
            // One more call, untimed, for its memory.
            let (_, span) = try ActivationSpan.measure(denoise)
            let rowPixels = requests.reduce(0) { $0 + 2 * $1.width! * $1.height! }
            memory.stepBytesPerRowPixel = max(memory.stepBytesPerRowPixel, Double(span.peakBytes) / Double(rowPixels))
            return ms
        }

        var steps: [CostModel.Diffusion.Measurements.Step] = []
        var decodes: [CostModel.Diffusion.Measurements.Sized] = []
        for size in sizes {
            for batch in settings.batchSizes {
                let ms = try stepMs((0 ..< batch).map { request(size, UInt64($0)) })
                steps.append(.init(images: batch, rows: 2 * batch, width: size.width, height: size.height, ms: ms))
            }
            let state = try start(request(size, 0))
            decodes.append(.init(width: size.width, height: size.height, ms: try ProfileStatistics.medianMilliseconds(runs: runs) { _ = pipeline.decode(state) }))
            let (_, span) = ActivationSpan.measure { pipeline.decode(state) }
            memory.vaeBytesPerPixel = max(memory.vaeBytesPerPixel, Double(span.peakBytes) / Double(size.width * size.height))
        }
        let admitMs = try ProfileStatistics.medianMilliseconds(runs: runs) { () throws(ProfileError) in _ = try start(request(sizes[0], 0)) }

        /// Per row, the median extra milliseconds of a guided step of one image with `addOn` over one
        /// without, the two timed back to back so that a change of machine load hits both.
        func rowMsOver(_ size: (width: Int, height: Int), _ addOn: (inout TextToImageRequest) -> Void) throws(ProfileError) -> Double {
            var with = request(size, 0)
            addOn(&with)
            var states = [[try start(with)], [try start(request(size, 0))]]
            var differences: [Double] = []
            for run in 0 ... runs {
                var ms = [0.0, 0.0]
                for k in 0 ..< 2 {
                    let start = DispatchTime.now().uptimeNanoseconds
                    do { try pipeline.denoise(&states[k]) } catch { throw .modelFailed("\(error)") }
                    ms[k] = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                }
                if run > 0 { differences.append(ms[0] - ms[1]) }
            }
            // Two rows (guided) each paid it once; timer noise must not make it negative.
            return max(1e-3, ProfileStatistics.median(differences) / 2)
        }

        var loraLoadMs = 0.0, loraBindMs = 0.0, loraMergeMs = 0.0, loraBytes = 0
        var unmerged: [CostModel.Diffusion.Measurements.Sized] = []
        if let url = settings.lora {
            var file: LoRAFile?
            var weights: LoRAWeights?
            loraLoadMs = try ProfileStatistics.medianMilliseconds(runs: runs) { () throws(ProfileError) in
                do { file = try LoRAFile(url: url) } catch { throw .modelFailed("LoRA \(url.path): \(error)") }
            }
            loraBindMs = try ProfileStatistics.medianMilliseconds(runs: runs) { () throws(ProfileError) in
                do { weights = try pipeline.loraWeights([LoRARequest(file: file!)]) } catch { throw .modelFailed("LoRA \(url.path): \(error)") }
            }
            loraMergeMs = try ProfileStatistics.medianMilliseconds(runs: runs) { weights!.merge(into: pipeline.unet).restore() }
            loraBytes = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            for size in sizes {
                let ms = try rowMsOver(size) { $0.loras = [LoRARequest(file: file!)] }
                unmerged.append(.init(width: size.width, height: size.height, ms: ms))
            }
        }

        var controls: [CostModel.Diffusion.Measurements.Sized] = []
        if let folder = settings.controlNet, let imageURL = settings.controlImage {
            let model: ControlNetModel, image: RGBImage
            do {
                model = try ControlNetModel(directory: folder)
                image = try ImageDecoder.decode(contentsOf: imageURL)
            } catch { throw .modelFailed("ControlNet \(folder.path): \(error)") }
            for size in sizes {
                let ms = try rowMsOver(size) { $0.controlNets = [ControlNetRequest(controlNet: model, image: image)] }
                controls.append(.init(width: size.width, height: size.height, ms: ms))
            }
        }

        let step = try fitStep(steps)
        let pixels = { (points: [CostModel.Diffusion.Measurements.Sized]) in points.map { [1, Double($0.width * $0.height)] } }
        let vae = try NonNegativeLeastSquares.fit(rows: pixels(decodes), targets: decodes.map(\.ms), stage: "VAE decode")
        let control = controls.isEmpty ? [0, 0] : try fitRow(controls, stage: "ControlNet")
        let lowRank = unmerged.isEmpty ? [0, 0] : try fitRow(unmerged, stage: "unmerged LoRA")
        var costs = CostModel.Diffusion(
            stepFixedMs: step[0], stepPerRowPixelMs: step[1], controlNetFixedMs: 0, controlNetPerPixelMs: control[0],
            vaeDecodeFixedMs: vae[0], vaeDecodePerPixelMs: vae[1], textEncodeMs: admitMs, loraLoadMs: loraLoadMs, loraMergeMs: loraMergeMs,
            maxBatchSize: settings.maxBatchSize,
            loraCacheEntries: loraBytes > 0 ? max(1, settings.loraCacheBytes / loraBytes) : settings.loraCacheBytes >> 20,
            referenceWidth: pipeline.defaultSize, referenceHeight: pipeline.defaultSize,
            measurements: .init(steps: steps, vaeDecode: decodes, controlNet: controls, textEncodeMs: admitMs,
                                loraLoadMs: loraLoadMs, loraMergeMs: loraMergeMs, loraBindMs: loraBindMs, unmergedLoRA: unmerged))
        costs.stepPerRowPixelSquaredMs = step[2]
        costs.controlNetPerPixelSquaredMs = control[1]
        costs.loraBindMs = loraBindMs
        costs.unmergedLoRAPerPixelMs = lowRank[0]
        costs.unmergedLoRAPerPixelSquaredMs = lowRank[1]
        costs.memory = memory
        return costs
    }

    /// The UNet call's `[fixed, per row-pixel, per row-pixel²]` ms from calls of several batch sizes
    /// at two or more sizes: a call's fixed cost, and each row's convolutions (∝ pixels) and
    /// self-attention (∝ pixels², the latent's tokens squared).
    static func fitStep(_ steps: [CostModel.Diffusion.Measurements.Step]) throws(ProfileError) -> [Double] {
        try NonNegativeLeastSquares.fit(rows: steps.map {
            let pixels = Double($0.width * $0.height)
            return [1, Double($0.rows) * pixels, Double($0.rows) * pixels * pixels]
        }, targets: steps.map(\.ms), stage: "UNet step")
    }

    /// A per-row add-on cost's `[per pixel, per pixel²]` ms from one point per size (two sizes fix
    /// both; a row's fixed cost is not told apart from them, so it is priced in these terms).
    static func fitRow(_ points: [CostModel.Diffusion.Measurements.Sized], stage: String) throws(ProfileError) -> [Double] {
        try NonNegativeLeastSquares.fit(rows: points.map {
            let pixels = Double($0.width * $0.height)
            return [pixels, pixels * pixels]
        }, targets: points.map(\.ms), stage: stage)
    }

    /// Relative errors of the fitted UNet step, VAE decode and ControlNet call on their own points.
    public static func relativeErrors(of costs: CostModel.Diffusion) -> [(stage: String, errors: [Double])] {
        guard let m = costs.measurements else { return [] }
        let error = { (seconds: Double, ms: Double) in abs(seconds * 1000 - ms) / ms }
        return [
            ("UNet step", m.steps.map { error(costs.stepSeconds(rowPixels: Array(repeating: $0.width * $0.height, count: $0.rows)), $0.ms) }),
            ("VAE decode", m.vaeDecode.map { error(costs.vaeDecodeSeconds(width: $0.width, height: $0.height), $0.ms) }),
            ("ControlNet call", m.controlNet.map { error(costs.controlNetSeconds(width: $0.width, height: $0.height), $0.ms) }),
            ("unmerged LoRA row", m.unmergedLoRA.map { error(costs.unmergedLoRASeconds(width: $0.width, height: $0.height), $0.ms) }),
        ].filter { !$0.errors.isEmpty }
    }
}

/// What ``DiffusionProfiler`` measures.
public struct DiffusionProfileSettings: Sendable {
    /// Guided images per UNet call.
    public var batchSizes = [1, 2, 4]
    /// Image sizes; nil: the folder's default size and twice it.
    public var sizes: [(width: Int, height: Int)]?
    public var runs = 5
    /// A LoRA file to time loading, binding, merging and unmerged use; nil leaves them at zero (not measured).
    public var lora: URL?
    /// A ControlNet folder and a control image to time one call; nil leaves it at zero.
    public var controlNet: URL?
    public var controlImage: URL?
    /// The image engine's step-batch cap and adapter-cache budget (the server's), written into the costs.
    public var maxBatchSize = 8
    public var loraCacheBytes = 1 << 30

    public init() {}

    func validate() throws(ProfileError) {
        guard !batchSizes.isEmpty, batchSizes.allSatisfy({ $0 >= 1 }), runs >= 1, maxBatchSize >= 1, loraCacheBytes >= 0 else {
            throw .invalidSettings("batch sizes, runs and the batch cap must be at least 1")
        }
        guard (sizes?.count ?? 2) >= 2, sizes?.allSatisfy({ $0.width >= 1 && $0.height >= 1 }) ?? true else {
            throw .invalidSettings("give at least two image sizes, so the fixed and per-pixel costs can be told apart")
        }
        guard (controlNet == nil) == (controlImage == nil) else { throw .invalidSettings("a ControlNet is profiled with a control image") }
    }
}
