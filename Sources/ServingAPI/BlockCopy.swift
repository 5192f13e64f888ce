/// A KV copy of a block's first `positions` positions into another block of the same cache: the
/// block manager seeds a request's partial block this way, and the first pipeline stage sends the
/// step's copies on to the stages after it.
public struct BlockCopy: Sendable, Hashable, Codable {
    public var source: Int
    public var destination: Int
    public var positions: Int

    public init(source: Int, destination: Int, positions: Int) {
        self.source = source
        self.destination = destination
        self.positions = positions
    }
}
