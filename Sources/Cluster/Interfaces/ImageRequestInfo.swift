/// What the diffusion policies may know about one image to generate: its denoising steps, size,
/// guidance and named add-ons (the fields of the Katz/SwiftDiffusion trace, arXiv 2407.02031 §2:
/// `loras[]`, `controlnets[]`). `n` images of one API request are `n` of these.
///
/// ```swift
/// let image = ImageRequestInfo(id: 0, arrival: 0, steps: 20, width: 512, height: 512, guidanceScale: 7.5,
///                              loras: ["watercolor"], controlNets: ["canny"])
/// image.controlNetCalls   // 40: one residual call per ControlNet per CFG row per step
/// ```
public struct ImageRequestInfo: Sendable, Hashable {
    public var id: Int
    /// Arrival time in seconds on the cluster clock.
    public var arrival: Double
    public var steps: Int
    public var width: Int
    public var height: Int
    public var guidanceScale: Double
    /// LoRA names, as registered on the workers.
    public var loras: [String]
    /// ControlNet names.
    public var controlNets: [String]

    public init(id: Int, arrival: Double, steps: Int, width: Int, height: Int, guidanceScale: Double,
                loras: [String] = [], controlNets: [String] = []) {
        self.id = id
        self.arrival = arrival
        self.steps = steps
        self.width = width
        self.height = height
        self.guidanceScale = guidanceScale
        self.loras = loras
        self.controlNets = controlNets
    }

    /// UNet rows per step: two with classifier-free guidance (`guidance_scale > 1`, as diffusers), else one.
    public var cfgRows: Int { guidanceScale > 1 ? 2 : 1 }

    /// ControlNet residual calls the image demands over its whole schedule: one per ControlNet per
    /// UNet row per step (a ControlNet's start/end window is not counted: the full schedule).
    public var controlNetCalls: Int { steps * cfgRows * controlNets.count }

    /// Those calls weighted by the image's pixels, which a call's per-pixel cost multiplies.
    public var controlNetCallPixels: Double { Double(controlNetCalls) * Double(width * height) }
}
