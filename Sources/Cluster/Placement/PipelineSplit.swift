/// A layer-split (pipeline-parallel) instance, UELLM's HELR deployment (arXiv 2409.14961 §4.3):
/// a decoder's placement units over stage processes, placed by ``LayerPlacement``, and what a step
/// costs under that placement. The live front end launches the plan's stages; the simulator times
/// a split instance's steps by ``stepSeconds(unsplit:tokens:logitRows:)`` of the same plan.
///
/// Units are the token embedding, each decoder layer, then the final norm with the LM head (a
/// model's biggest tensors with a large vocabulary, so they are placed like layers).
///
/// ```swift
/// let split = PipelineSplit(units: PipelineSplit.units(of: shape), stages: [stage, stage])
/// let plan = try split.plan()          // blocks of units, first stage first
/// ```
public struct PipelineSplit: Sendable, Hashable {
    /// One process a pipeline may place units on.
    public struct Stage: Sendable, Hashable, Codable {
        /// Bytes of weights it may hold.
        public var memoryBytes: Double
        public var flopsPerSecond: Double
        /// Bandwidth of its link; two stages talk at the slower of their links.
        public var linkBytesPerSecond: Double

        public init(memoryBytes: Double, flopsPerSecond: Double, linkBytesPerSecond: Double) {
            self.memoryBytes = memoryBytes
            self.flopsPerSecond = flopsPerSecond
            self.linkBytesPerSecond = linkBytesPerSecond
        }
    }

    /// A Llama-family decoder's sizes, from which its units are weighed.
    public struct DecoderShape: Sendable, Hashable, Codable {
        public var layers: Int
        public var hiddenSize: Int
        public var intermediateSize: Int
        public var vocabSize: Int
        /// Query heads × head size, and key/value heads × head size.
        public var queryWidth: Int
        public var kvWidth: Int
        /// Bytes per weight (4 for float32).
        public var bytesPerWeight: Double

        public init(layers: Int, hiddenSize: Int, intermediateSize: Int, vocabSize: Int, queryWidth: Int, kvWidth: Int, bytesPerWeight: Double = 4) {
            self.layers = layers
            self.hiddenSize = hiddenSize
            self.intermediateSize = intermediateSize
            self.vocabSize = vocabSize
            self.queryWidth = queryWidth
            self.kvWidth = kvWidth
            self.bytesPerWeight = bytesPerWeight
        }
    }

    public var units: [LayerPlacement.Layer]
    public var stages: [Stage]

    public init(units: [LayerPlacement.Layer], stages: [Stage]) {
        self.units = units
        self.stages = stages
    }

    /// A decoder's units weighed per token of a step: weight bytes, 2 flops per multiply-add, and
    /// the float32 hidden states each unit hands on (logits from the head). A tied LM head shares
    /// the embedding, which the stage holding the head then keeps too.
    public static func units(of d: DecoderShape) -> [LayerPlacement.Layer] {
        let h = Double(d.hiddenSize), vocab = Double(d.vocabSize), q = Double(d.queryWidth), kv = Double(d.kvWidth)
        let hidden = h * 4
        let layer = h * q + 2 * h * kv + q * h + 3 * h * Double(d.intermediateSize)
        let embedding = LayerPlacement.Layer(memoryBytes: vocab * h * d.bytesPerWeight, flops: h, activationBytes: hidden)
        let decoder = LayerPlacement.Layer(memoryBytes: (layer + 2 * h) * d.bytesPerWeight, flops: 2 * layer, activationBytes: hidden)
        let head = LayerPlacement.Layer(memoryBytes: (vocab * h + h) * d.bytesPerWeight, flops: 2 * vocab * h, activationBytes: vocab * 4)
        return [embedding] + Array(repeating: decoder, count: d.layers) + [head]
    }

    /// HELR's minimum-latency plan, two stages linked at the slower of their links.
    public func plan() throws -> LayerPlacement {
        let devices = stages.indices.map {
            LayerPlacement.Device(name: "stage \($0)", memoryBytes: stages[$0].memoryBytes, flopsPerSecond: stages[$0].flopsPerSecond)
        }
        let bandwidth = stages.indices.map { i in stages.indices.map { j in i == j ? 0 : link(i, j) } }
        return try LayerPlacement.plan(layers: units, devices: devices, bandwidth: bandwidth)
    }

    /// A step's time under `plan`, from its time `unsplit` on one device of `referenceFlopsPerSecond`
    /// holding every unit: each stage computes its units' share at its own speed, one after another
    /// (one scheduler, no overlap of steps), every hop carries `tokens` hidden-state rows forward
    /// and `logitRows` logits rows back.
    public func stepSeconds(unsplit: Double, tokens: Int, logitRows: Int, plan: LayerPlacement, referenceFlopsPerSecond: Double) -> Double {
        let total = units.reduce(0) { $0 + $1.flops }
        let compute = plan.blocks.reduce(0) { sum, block in
            sum + units[block.layers].reduce(0) { $0 + $1.flops } / stages[block.device].flopsPerSecond
        }
        let logitBytes = units.last?.activationBytes ?? 0
        let hops = zip(plan.blocks, plan.blocks.dropFirst()).reduce(0.0) { sum, pair in
            let bytes = Double(tokens) * units[pair.0.layers.upperBound - 1].activationBytes + Double(logitRows) * logitBytes
            return sum + bytes / link(pair.0.device, pair.1.device)
        }
        return unsplit * compute / (total / referenceFlopsPerSecond) + hops
    }

    private func link(_ i: Int, _ j: Int) -> Double { min(stages[i].linkBytesPerSecond, stages[j].linkBytesPerSecond) }
}
