/// One token and its log-probability under the model's raw distribution.
public struct TokenLogprob: Sendable, Equatable, Codable {
    public var id: Int
    public var logprob: Float
    public init(id: Int, logprob: Float) {
        self.id = id
        self.logprob = logprob
    }
}
