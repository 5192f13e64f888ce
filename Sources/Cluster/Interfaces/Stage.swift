/// A phase of multimodal inference: image encoding, prompt prefill, or token-by-token decoding.
public enum Stage: String, Sendable, Codable, CaseIterable, Hashable {
    case encode, prefill, decode
}

/// What an instance runs. Disaggregated deployments split the stages across instances;
/// a monolithic (vLLM-like) instance runs all three.
public enum InstanceRole: String, Sendable, Codable, CaseIterable, Hashable {
    /// Vision encoder only (EPD's E instance, ModServe's Image Instance).
    case encode
    /// LLM prefill only; images must arrive already encoded.
    case prefill
    /// Prefill that also runs the vision encoder inline (DistServe-style PD with encode inside prefill).
    case encodePrefill
    /// LLM decode only.
    case decode
    /// Everything on one instance.
    case mono
    /// A diffusion worker: text encoding, the denoising loop (step-level batched) and VAE decode of
    /// image requests; it runs none of the language-model stages.
    case image
    /// A ControlNet service for the image workers (Katz/SwiftDiffusion §ControlNet-as-a-Service):
    /// keeps popular ControlNets resident and returns their residuals each step.
    case controlnet

    /// The stages this role can execute.
    public func runs(_ stage: Stage) -> Bool {
        switch (self, stage) {
        case (.mono, _): true
        case (.encode, .encode), (.prefill, .prefill), (.decode, .decode): true
        case (.encodePrefill, .encode), (.encodePrefill, .prefill): true
        default: false
        }
    }
}

/// ElasticMM's modality level: text-only requests and requests with images are served by separate
/// groups; image generation (diffusion) requests by a third pool of `image` workers.
public enum ModalityGroup: String, Sendable, Codable, CaseIterable, Hashable {
    case text, multimodal, image

    /// The groups of language-model requests, which the fleet planners balance (ElasticMM's
    /// modality groups); the image pool is planned apart.
    public static let language: [ModalityGroup] = [.text, .multimodal]
}
