/// When a UNet call runs on merged LoRA weights: when every row on the weights (a batch's images,
/// and the rows the worker runs for CFG-split peers meanwhile) uses the same non-empty LoRA set;
/// when the rows mix sets (or some use none), each row takes its own LoRAs unmerged (low-rank, per
/// row) on pristine weights. Merging costs one pass over the adapted weights and restoring another,
/// so weights shared by several sets would be merged and restored every step; measured in
/// docs/benchmarks.md (c). The diffusion engine, its CFG-split peer rows and the simulator apply it.
///
/// ```swift
/// LoRAMergeRule.merged([["peft"], ["peft"]])    // ["peft"]: merge it
/// LoRAMergeRule.merged([["peft"], ["kohya"]])   // nil: unmerged, per row
/// ```
public enum LoRAMergeRule {
    /// The set to merge into the weights for rows using `sets`; nil: unmerged.
    public static func merged<Key: Equatable>(_ sets: [[Key]]) -> [Key]? {
        guard let first = sets.first, !first.isEmpty, sets.allSatisfy({ $0 == first }) else { return nil }
        return first
    }
}
