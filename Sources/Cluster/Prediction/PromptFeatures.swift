import CoreUtilities

/// Hashed bag-of-words features of a prompt for the output-length predictor.
///
/// Lower-cased alphanumeric words give unigram (`w:word`) and bigram (`b:word next`) features plus
/// one prompt-length feature (`len:⌊log2(tokens+1)⌋`), each hashed with 64-bit FNV-1a into
/// `buckets` slots. The same scheme is reimplemented in the reference script, so it must not change
/// silently.
public enum PromptFeatures {
    /// Feature slots of a prompt, one entry per occurrence (duplicates count twice).
    public static func indices(prompt: String, promptTokens: Int, buckets: Int) -> [Int] {
        let words = prompt.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
        var keys = words.map { "w:" + $0 }
        if words.count > 1 {
            for i in 0..<(words.count - 1) { keys.append("b:" + words[i] + " " + words[i + 1]) }
        }
        var lengthBucket = 0
        var t = max(0, promptTokens) + 1
        while t > 1 { t >>= 1; lengthBucket += 1 }
        keys.append("len:\(lengthBucket)")
        let modulus = UInt64(max(1, buckets))
        return keys.map { Int(FNV1a.hash($0) % modulus) }
    }
}
