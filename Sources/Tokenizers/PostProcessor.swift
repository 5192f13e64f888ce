/// Adds special tokens around an encoded sequence (`post_processor`), when
/// `encode(_:addSpecialTokens:)` asks for them.
indirect enum PostProcessor: Sendable {
    /// `TemplateProcessing`'s `single` template, flattened to ids with `nil` marking the sequence.
    case template([Int?])
    /// Only adjusts offsets in `tokenizers`; ids pass through.
    case byteLevel
    /// `RobertaProcessing` / `BertProcessing`: `cls` + sequence + `sep`.
    case wrap(prefix: Int, suffix: Int)
    case sequence([PostProcessor])

    func process(_ ids: [Int]) -> [Int] {
        switch self {
        case .template(let pieces):
            var result: [Int] = []
            result.reserveCapacity(ids.count + pieces.count)
            for piece in pieces {
                if let id = piece { result.append(id) } else { result.append(contentsOf: ids) }
            }
            return result
        case .byteLevel:
            return ids
        case .wrap(let prefix, let suffix):
            return [prefix] + ids + [suffix]
        case .sequence(let steps):
            return steps.reduce(ids) { $1.process($0) }
        }
    }
}
