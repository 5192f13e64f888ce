/// A choice of a completion envelope; its type fixes the envelope's `object`.
protocol CompletionEnvelopeChoice: Encodable, Sendable {
    /// The envelope's `object`, e.g. `chat.completion.chunk`.
    static var object: String { get }
}

/// The `id, object, created, model, system_fingerprint, choices, usage` object around every completion answer and
/// stream chunk, in OpenAI's field order.
struct CompletionEnvelope<Choice: CompletionEnvelopeChoice>: Encodable, Sendable {
    var id: String
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage?
    /// Whether `usage` is written (as null when nil): always for whole answers, with `include_usage` for chunks.
    var includeUsageField: Bool

    enum CodingKeys: String, CodingKey { case id, object, created, model, systemFingerprint = "system_fingerprint", choices, usage }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(Choice.object, forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(TesseraVersion.fingerprint, forKey: .systemFingerprint)
        try c.encode(choices, forKey: .choices)
        if includeUsageField { try c.encode(usage, forKey: .usage) }
    }
}
