import Foundation

/// Why a tokenizer could not be loaded.
///
/// Encoding and decoding never fail; every problem with the files is caught here, at load time.
public enum TokenizerError: Error, CustomStringConvertible, Sendable {
    /// A required file is missing from the tokenizer directory.
    case fileNotFound(URL)
    /// A file exists but could not be read.
    case unreadableFile(URL, underlying: String)
    /// A file is not valid JSON.
    case malformedJSON(file: String, offset: Int, message: String)
    /// A field is missing or has the wrong type.
    case invalidField(path: String, expected: String)
    /// A component type (model, normalizer, pre-tokenizer, …) that is not implemented.
    case unsupportedComponent(kind: String, type: String)
    /// A `Split`/`Replace` regex this library does not implement.
    case unsupportedPattern(String)
    /// A token referenced by merges, `unk_token`, a template or the config is not in the vocabulary.
    case tokenNotInVocabulary(String, context: String)

    public var description: String {
        switch self {
        case .fileNotFound(let url):
            return "Tokenizer file not found: \(url.path)"
        case .unreadableFile(let url, let underlying):
            return "Cannot read tokenizer file \(url.path): \(underlying)"
        case .malformedJSON(let file, let offset, let message):
            return "Malformed JSON in \(file) at byte \(offset): \(message)"
        case .invalidField(let path, let expected):
            return "Invalid tokenizer field `\(path)`: expected \(expected)"
        case .unsupportedComponent(let kind, let type):
            return "Unsupported \(kind) type `\(type)`"
        case .unsupportedPattern(let pattern):
            return "Unsupported split pattern: \(pattern)"
        case .tokenNotInVocabulary(let token, let context):
            return "Token `\(token)` used by \(context) is not in the vocabulary"
        }
    }
}
