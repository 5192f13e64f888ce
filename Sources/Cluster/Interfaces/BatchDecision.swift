/// One batching decision as both executors record it: the requests an instance's batch policy
/// admitted from its waiting queue into one step (or one prefill batch), in admission order. For
/// the same trace the simulator and the live workers take the same decisions (a replay test
/// compares them).
///
/// ```swift
/// BatchDecision(instance: 0, requests: [4, 2])
/// ```
public struct BatchDecision: Sendable, Hashable, CustomStringConvertible {
    public var instance: Int
    public var requests: [Int]

    public init(instance: Int, requests: [Int]) {
        self.instance = instance
        self.requests = requests
    }

    public var description: String { "instance \(instance) admits \(requests)" }
}
