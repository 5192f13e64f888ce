/// One batching decision as both executors record it, a plain value as vLLM v1's `schedule()`
/// returns one: the requests an instance's batch policy admitted from its waiting queue into one
/// step (or one prefill batch), in admission order, the requests it left waiting, in the queue's
/// order, and those already running beside them (ascending). For the same trace the simulator and
/// the live workers take the same decisions (a replay test compares them).
///
/// ```swift
/// BatchDecision(instance: 0, requests: [4, 2], waiting: [1, 3], running: [0])
/// ```
public struct BatchDecision: Sendable, Hashable, Codable, CustomStringConvertible {
    public var instance: Int
    public var requests: [Int]
    public var waiting: [Int]
    public var running: [Int]

    public init(instance: Int, requests: [Int], waiting: [Int], running: [Int]) {
        self.instance = instance
        self.requests = requests
        self.waiting = waiting
        self.running = running
    }

    public var description: String { "instance \(instance) admits \(requests) beside \(running), leaves \(waiting) waiting" }
}
