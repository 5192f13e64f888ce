/// A registered LoRA by name, at `scale` (diffusers' `cross_attention_kwargs={"scale": s}`): what an
/// image request names, what a front end sends its diffusion workers and a CFG-split leader its peer.
///
/// ```swift
/// let watercolor = LoRAUse(name: "watercolor", scale: 0.8)   // JSON: {"name":"watercolor","scale":0.8}
/// ```
public struct LoRAUse: Sendable, Hashable, Codable {
    public var name: String
    public var scale: Float

    public init(name: String, scale: Float = 1) {
        self.name = name
        self.scale = scale
    }
}
