/// Incremental decoding for token-by-token generation.
///
/// Each `append(_:)` returns only text that is final: never half of a UTF-8 character
/// (byte-level and `<0xNN>` byte-fallback tokens can split one), and never text a later
/// token could still change. The concatenation of everything returned by `append(_:)`
/// and `finish()` equals `tokenizer.decode(allIds, skipSpecialTokens:)`.
///
/// ```swift
/// var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
/// for id in generatedIds { print(stream.append(id), terminator: "") }
/// print(stream.finish())
/// ```
///
/// It re-decodes a short window of recent ids and emits the difference, so decoders
/// with position-dependent rules (SentencePiece's leading-space strip) stay exact.
public struct StreamingDetokenizer: Sendable {
    /// The tokenizer whose `decode` this stream reproduces.
    public let tokenizer: Tokenizer
    private let skipSpecialTokens: Bool
    /// Whether runs of `<0xNN>` tokens are decoded as a group and so must not be split.
    private let groupsByteTokens: Bool
    /// The ids of the last emission (decoding context), followed by the pending ids.
    private var window: [Int] = []
    /// How many ids at the start of `window` are already emitted.
    private var emittedCount = 0
    /// UTF-8 of `decode(window[..<emittedCount])`.
    private var emitted: [UInt8] = []
    /// Whether the last token that reaches the decoder is a `<0xNN>` byte token.
    private var endsInByteRun = false

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
        self.groupsByteTokens = tokenizer.decoder?.usesByteFallback ?? false
    }

    /// Adds one id and returns the newly completed text (often empty).
    public mutating func append(_ id: Int) -> String {
        window.append(id)
        if groupsByteTokens, let token = tokenizer.token(forId: id),
           !(skipSpecialTokens && tokenizer.specialTokenIds.contains(id)) {
            endsInByteRun = TokenDecoder.fallbackByte(Array(token.unicodeScalars)) != nil
        }
        // A byte run decodes as one group (invalid runs become one U+FFFD per byte), so wait for its end.
        if endsInByteRun { return "" }
        let text = Array(tokenizer.decode(window, skipSpecialTokens: skipSpecialTokens).utf8)
        // A trailing U+FFFD may be an incomplete character that the next token completes.
        guard text.count > emitted.count, !text.ends(with: [0xEF, 0xBF, 0xBD]) else { return "" }
        let fresh = newText(text)
        // Keep only the ids just emitted, as context for decoding the next ones.
        window.removeFirst(emittedCount)
        emittedCount = window.count
        emitted = Array(tokenizer.decode(window, skipSpecialTokens: skipSpecialTokens).utf8)
        return fresh
    }

    /// Returns whatever is still held back (an incomplete character becomes U+FFFD) and resets.
    public mutating func finish() -> String {
        let text = Array(tokenizer.decode(window, skipSpecialTokens: skipSpecialTokens).utf8)
        let rest = text.count > emitted.count ? newText(text) : ""
        window = []
        emittedCount = 0
        emitted = []
        endsInByteRun = false
        return rest
    }

    /// The part of `text` after the already-emitted prefix. The supported decoders never
    /// rewrite emitted text, so the common-prefix scan only guards against a mismatch.
    private func newText(_ text: [UInt8]) -> String {
        var common = 0
        while common < emitted.count, common < text.count, emitted[common] == text[common] { common += 1 }
        return String(decoding: text[common...], as: UTF8.self)
    }
}

extension Array where Element: Equatable {
    fileprivate func ends(with suffix: [Element]) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }
}
