import Models
import ServingAPI

/// What an engine does with a request whose work is split with other engines (prefill/decode
/// disaggregation, DistServe's and EPD's P→D hand-off).
enum KVHandoff {
    /// Everything here: prefill, then decode.
    case none
    /// Prefill only: compute the prompt's KV, then keep its blocks until another engine has read them.
    case parkAfterPrefill
    /// Decode: the KV of the prompt's first positions was computed elsewhere and arrives in a buffer.
    case importKV(KVBuffer)

    /// The M-RoPE positions of what a decode engine computes of an image prompt prefilled elsewhere.
    var importedMRoPE: MRoPEPositions? {
        guard case let .importKV(kv) = self, let delta = kv.mropeDelta else { return nil }
        return MRoPEPositions(delta: delta)
    }
}
