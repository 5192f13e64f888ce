/// One image to generate (`/v1/images/generations`, one image) as the diffusion policies, the
/// cost model and traces see it: its denoising steps, size, guidance and named add-ons (the
/// Katz/SwiftDiffusion trace's fields, arXiv 2407.02031 §2: `loras[]`, `controlnets[]`, by name;
/// a trace's `image_generation` object).
///
/// ```swift
/// let image = ImageGeneration(steps: 20, width: 512, height: 512, loras: ["watercolor"], controlNets: ["canny"])
/// image.controlNetCalls   // 40: one residual call per ControlNet per CFG row per step
/// ```
public struct ImageGeneration: Sendable, Hashable, Codable {
    public var steps: Int
    public var width: Int
    public var height: Int
    public var guidanceScale: Double
    /// LoRA names, as registered on the workers.
    public var loras: [String]
    /// ControlNet names.
    public var controlNets: [String]

    public init(steps: Int, width: Int, height: Int, guidanceScale: Double = 7.5, loras: [String] = [], controlNets: [String] = []) {
        self.steps = steps
        self.width = width
        self.height = height
        self.guidanceScale = guidanceScale
        self.loras = loras
        self.controlNets = controlNets
    }

    enum CodingKeys: String, CodingKey {
        case steps, width, height, loras
        case guidanceScale = "guidance_scale"
        case controlNets = "controlnets"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.decode(Int.self, forKey: .steps)
        width = try c.decode(Int.self, forKey: .width)
        height = try c.decode(Int.self, forKey: .height)
        guidanceScale = try c.decodeIfPresent(Double.self, forKey: .guidanceScale) ?? 7.5
        loras = try c.decodeIfPresent([String].self, forKey: .loras) ?? []
        controlNets = try c.decodeIfPresent([String].self, forKey: .controlNets) ?? []
    }

    /// UNet rows per step: two with classifier-free guidance (`guidance_scale > 1`, as diffusers), else one.
    public var cfgRows: Int { guidanceScale > 1 ? 2 : 1 }

    /// ControlNet residual calls the image demands over its whole schedule: one per ControlNet per
    /// UNet row per step (a ControlNet's start/end window is not counted: the full schedule).
    public var controlNetCalls: Int { steps * cfgRows * controlNets.count }

    /// Those calls weighted by the image's pixels, which a call's per-pixel cost multiplies.
    public var controlNetCallPixels: Double { Double(controlNetCalls) * Double(width * height) }

    /// Those calls weighted by the image's pixels squared, which a call's per-pixel² cost (its
    /// self-attention) multiplies.
    public var controlNetCallPixelsSquared: Double { controlNetCallPixels * Double(width * height) }
}
