import Foundation

/// The model folder's `generation_config.json`: its stop tokens and default sampling values.
///
/// vLLM applies these defaults unless a request says otherwise; so does Tessera.
public struct GenerationDefaults: Sendable, Equatable {
    public var bosTokenId: Int?
    /// Every id that ends generation (`eos_token_id` may be one id or a list).
    public var eosTokenIds: Set<Int>
    public var temperature: Float?
    public var topP: Float?
    public var topK: Int?

    public init(bosTokenId: Int? = nil, eosTokenIds: Set<Int> = [], temperature: Float? = nil, topP: Float? = nil, topK: Int? = nil) {
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
    }

    /// Reads `generation_config.json` from `directory`; a missing file means no defaults.
    public static func load(directory: URL) throws -> GenerationDefaults {
        let url = directory.appendingPathComponent("generation_config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return GenerationDefaults() }
        let data = try Data(contentsOf: url)
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw GenerationError.invalidConfig("\(url.path) is not a JSON object")
        }
        func ids(_ value: Any?) -> [Int] {
            switch value {
            case let n as Int: [n]
            case let list as [Any]: list.compactMap { $0 as? Int }
            default: []
            }
        }
        return GenerationDefaults(
            bosTokenId: ids(json["bos_token_id"]).first,
            eosTokenIds: Set(ids(json["eos_token_id"])),
            temperature: (json["temperature"] as? NSNumber)?.floatValue,
            topP: (json["top_p"] as? NSNumber)?.floatValue,
            topK: (json["top_k"] as? NSNumber)?.intValue
        )
    }
}
