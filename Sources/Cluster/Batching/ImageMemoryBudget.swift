/// Which waiting images join an image worker's running ones, by their activation memory: in
/// arrival order, into free batch slots, while the running images and the next one need at most
/// the budget at once (what each keeps between steps, plus the larger of their shares of a UNet
/// call and the largest VAE pass, which the loop runs between calls, one at a time). The next image
/// alone always joins an idle worker (it fit when it came; a size's measured needs may grow). The
/// diffusion engine applies it with what it measured (`ImageMemory`), the simulator with the cost
/// model's profiled needs; both default to ``defaultBytes`` (`--image-memory`).
///
/// ```swift
/// let need = ImageMemoryNeed(kept: 1 << 20, step: 400 << 20, vae: 2560 << 20)
/// ImageMemoryBudget.bytes(of: [need, need])            // 2 MiB + max(800 MiB, 2560 MiB)
/// ImageMemoryBudget.admissions(running: [need], waiting: [need, need], slots: 7, budget: 3 << 30).admitted   // 1
/// ```
public enum ImageMemoryBudget {
    /// 8 GiB: on an SD 1.5-shaped model, eight guided 1024² images (docs/benchmarks.md).
    public static let defaultBytes = 8 << 30

    /// The bytes `images` need running together.
    public static func bytes(of images: [ImageMemoryNeed]) -> Int {
        images.reduce(0) { $0 + $1.kept } + max(images.reduce(0) { $0 + $1.step }, images.map(\.vae).max() ?? 0)
    }

    /// How many of `waiting` (in order) join `running`, given `slots` free batch slots, and how
    /// many of those the slots would have taken wait for memory instead.
    public static func admissions(running: [ImageMemoryNeed], waiting: [ImageMemoryNeed], slots: Int,
                                  budget: Int) -> (admitted: Int, heldForMemory: Int) {
        var needs = running
        for (k, next) in waiting.prefix(max(0, slots)).enumerated() {
            guard needs.isEmpty || bytes(of: needs + [next]) <= budget else { return (k, min(slots, waiting.count) - k) }
            needs.append(next)
        }
        return (min(max(0, slots), waiting.count), 0)
    }
}

/// One image's activation memory, in bytes: what it keeps between its steps, its share of a UNet
/// call's peak, and the peak of a VAE pass (its decode, or an init image's encoding).
public struct ImageMemoryNeed: Sendable, Hashable {
    public var kept = 0
    public var step = 0
    public var vae = 0

    public init(kept: Int = 0, step: Int = 0, vae: Int = 0) {
        self.kept = kept
        self.step = step
        self.vae = vae
    }
}
