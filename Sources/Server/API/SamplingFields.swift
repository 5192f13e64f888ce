/// The sampling fields of `POST /v1/chat/completions` and `POST /v1/completions`, read from the same
/// JSON object as the rest of the request.
public struct SamplingFields: Decodable, Sendable {
    public var temperature: Double?
    public var topP: Double?
    /// vLLM extension.
    public var topK: Int?
    /// vLLM extension.
    public var minP: Double?
    public var n: Int?
    public var stream: Bool?
    public var streamOptions: StreamOptions?
    public var stop: StopSequences?
    public var seed: Int?
    public var presencePenalty: Double?
    public var frequencyPenalty: Double?
    /// Tessera extension: the latency class the engine schedules the request by (`tessera serve
    /// --slo-class`); absent is the server's default class, an unknown class a 400.
    public var sloClass: String?

    /// The members these fields read, for the unknown-field check.
    static var names: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case temperature, n, stream, stop, seed
        case sloClass = "slo_class"
        case topP = "top_p"
        case topK = "top_k"
        case minP = "min_p"
        case streamOptions = "stream_options"
        case presencePenalty = "presence_penalty"
        case frequencyPenalty = "frequency_penalty"
    }
}
