/// What one engine step ran and how long it took, as ``EngineConfig/onStep`` reports it: the
/// shapes a cost model's step time is fitted on (`tessera profile` drives an engine and reads them).
///
/// ```swift
/// var config = EngineConfig()
/// config.onStep = { step in print(step.prefillTokens, step.decodeSequences, step.seconds) }
/// ```
public struct EngineStep: Sendable, Hashable {
    /// Prompt chunks the step computed, and their tokens.
    public var prefillSequences = 0
    public var prefillTokens = 0
    /// Σ chunk tokens × (chunk start + chunk tokens): the attention work of the chunks (a whole
    /// prompt of L tokens counts L²).
    public var squaredLengths = 0.0
    /// Sequences that computed their next generated token, and the positions they attend over together.
    public var decodeSequences = 0
    public var contextTokens = 0
    /// From scheduling to the last sampled token of the step.
    public var seconds = 0.0
    /// The step's batching decision: the request ids it admitted from the waiting queue, in
    /// admission order, those left waiting, in the queue's order, and those already running.
    public var admitted: [Int] = []
    public var waiting: [Int] = []
    public var running: [Int] = []

    public init() {}
}
