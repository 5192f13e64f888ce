import CoreUtilities
import Foundation
import Imaging
import Models
import Tensor

/// One ControlNet of a request (diffusers' `StableDiffusionControlNetPipeline` arguments; several
/// form a MultiControlNet): the control image, `controlnet_conditioning_scale`, and
/// `control_guidance_start` / `control_guidance_end` as fractions of the denoising steps.
public struct ControlNetRequest: Sendable {
    /// The model in this process, or a ControlNet service that runs it (see ``ControlNetRunner``).
    public var controlNet: any ControlNetRunner
    public var image: RGBImage
    public var scale: Float
    public var start: Float
    public var end: Float

    public init(controlNet: any ControlNetRunner, image: RGBImage, scale: Float = 1, start: Float = 0, end: Float = 1) {
        self.controlNet = controlNet
        self.image = image
        self.scale = scale
        self.start = start
        self.end = end
    }
}

/// A ControlNet with its preprocessed control image, as one denoising step reads it.
public struct ControlCondition: @unchecked Sendable {
    public let controlNet: any ControlNetRunner
    /// The control image at the output size, channels-last, in [0, 1].
    public let image: FeatureMap
    public let scale: Float
    public let start: Float
    public let end: Float

    /// Preprocesses `request.image` as diffusers' `prepare_image` does: `VaeImageProcessor`
    /// (`do_normalize=False`) resizes it to the output size with Pillow's Lanczos filter and
    /// divides by 255; classifier-free guidance uses the same image for both rows.
    public init(_ request: ControlNetRequest, width: Int, height: Int) throws(DiffusionError) {
        guard request.scale.isFinite else { throw .invalidArgument("controlnet_conditioning_scale must be a finite number") }
        guard request.start >= 0, request.end <= 1, request.start < request.end else {
            throw .invalidArgument("control guidance start \(request.start) and end \(request.end) need 0 ≤ start < end ≤ 1")
        }
        guard request.controlNet.conditioningChannels == 3 else {
            throw .invalidArgument("the ControlNet takes \(request.controlNet.conditioningChannels) conditioning channels; control images are RGB")
        }
        let source = request.image
        let resized = source.width == width && source.height == height
            ? source : source.resized(width: width, height: height, filter: .lanczos)
        let map = FeatureMap(height: height, width: width, channels: 3)
        for i in 0 ..< width * height * 3 { map.pixels.data[i] = Float(resized.pixels[i]) / 255 }
        controlNet = request.controlNet
        image = map
        scale = request.scale
        start = request.start
        end = request.end
    }

    /// The scale at step `step` of `total`: zero outside [start, end] as diffusers' `controlnet_keep`
    /// (a step is kept unless i/total < start or (i+1)/total > end).
    public func scale(step: Int, of total: Int) -> Float {
        let outside = Float(step) / Float(total) < start || Float(step + 1) / Float(total) > end
        return outside ? 0 : scale
    }
}

extension Array where Element == ControlCondition {
    /// Starts the residuals of every ControlNet active at `step` for one UNet row and returns the
    /// wait for their sum (nil when none is active): MultiControlNet semantics, each net's residuals
    /// times its own scale, summed in order. A ControlNet service computes while the caller runs the
    /// UNet's down pass. ControlNets run without the row's LoRA adapters, which belong to the UNet.
    func startResiduals(for row: DenoiserInput, step: Int, of total: Int) throws(DiffusionError) -> PendingResiduals {
        let plain = DenoiserInput(sample: row.sample, timestep: row.timestep, encoderHiddenStates: row.encoderHiddenStates,
                                  textEmbeds: row.textEmbeds, timeIds: row.timeIds)
        var waits: [@Sendable () throws(DiffusionError) -> ControlResiduals] = []
        for condition in self {
            let scale = condition.scale(step: step, of: total)
            guard scale != 0 else { continue }
            waits.append(try condition.controlNet.startResiduals(plain, condition: condition.image, scale: scale))
        }
        return PendingResiduals(waits: waits)
    }
}

/// One row's ControlNet residuals under way.
struct PendingResiduals {
    let waits: [@Sendable () throws(DiffusionError) -> ControlResiduals]

    func wait() throws(DiffusionError) -> ControlResiduals? {
        var sum: ControlResiduals?
        for wait in waits {
            let residuals = try wait()
            sum = sum.map { $0 + residuals } ?? residuals
        }
        return sum
    }

    /// `wait()` and the seconds it took: the ControlNets run here, or the wait for a service's
    /// answer past what the UNet's down pass overlapped; 0 without ControlNets.
    func timedWait() throws(DiffusionError) -> (residuals: ControlResiduals?, seconds: Double) {
        guard !waits.isEmpty else { return (nil, 0) }
        let start = ContinuousClock.now
        let residuals = try wait()
        return (residuals, (ContinuousClock.now - start).seconds)
    }
}

/// Where a ControlNet runs: its model in this process, or a ControlNet service (Katz/SwiftDiffusion
/// §ControlNet-as-a-Service) that a diffusion worker calls each step.
public protocol ControlNetRunner: Sendable {
    /// Channels of the control image (3: RGB).
    var conditioningChannels: Int { get }
    /// Starts the residuals of `row` (a row without adapters) and returns the wait for them.
    func startResiduals(_ row: DenoiserInput, condition: FeatureMap, scale: Float) throws(DiffusionError)
        -> @Sendable () throws(DiffusionError) -> ControlResiduals
}

extension ControlNetModel: ControlNetRunner {
    /// Computed when waited for: in this process there is nothing to overlap with.
    public func startResiduals(_ row: DenoiserInput, condition: FeatureMap, scale: Float) throws(DiffusionError)
        -> @Sendable () throws(DiffusionError) -> ControlResiduals {
        return { () throws(DiffusionError) -> ControlResiduals in
            do { return try self.residuals(row, condition: condition, scale: scale) } catch {
                throw .invalidArgument("ControlNet: \(error)")
            }
        }
    }
}
