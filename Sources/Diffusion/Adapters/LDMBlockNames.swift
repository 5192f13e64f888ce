/// kohya's SDXL LoRA module names, which follow the original LDM (sgm) UNet rather than diffusers'
/// (`input_blocks_4_1_proj_in` is `down_blocks_1_attentions_0_proj_in`), turned into the underscored
/// diffusers path, as diffusers' `_maybe_map_sgm_blocks_to_diffusers` and `_convert_unet_lora_key` read
/// SDXL LoRAs.
///
/// An input block `i ≥ 1` is layer `(i − 1) mod (L + 1)` of down block `(i − 1) / (L + 1)` (L the UNet's
/// `layers_per_block`; the last layer of a block is its downsampler, `…_0_op`), an output block `i` layer
/// `i mod (L + 1)` of up block `i / (L + 1)`; inside, `_0_` is the resnet, `_1_` the attention (or, in an
/// up block without attentions, the upsampler) and `_2_` the upsampler. Resnet layers keep LDM's names:
/// `in_layers_2` (conv1), `emb_layers_1` (time_emb_proj), `out_layers_3` (conv2), `skip_connection`
/// (conv_shortcut).
///
/// ```swift
/// let names = LDMBlockNames(unetPaths: ["down_blocks.0.resnets.0.conv1", "down_blocks.0.resnets.1.conv1"])
/// names.diffusersName("input_blocks_3_0_op")  // "down_blocks_0_downsamplers_0_conv"
/// ```
struct LDMBlockNames {
    /// `layers_per_block`: resnets per down block.
    let layersPerBlock: Int
    /// Up blocks that have attentions.
    let upBlocksWithAttentions: Set<Int>

    /// The layout read from a UNet's module (or parameter) paths.
    init(unetPaths: some Sequence<String>) {
        var resnets = 0
        var attended: Set<Int> = []
        for path in unetPaths {
            let parts = path.split(separator: ".")
            guard parts.count > 3 else { continue }
            if parts[0] == "down_blocks", parts[1] == "0", parts[2] == "resnets", let layer = Int(parts[3]) { resnets = max(resnets, layer + 1) }
            if parts[0] == "up_blocks", parts[2] == "attentions", let block = Int(parts[1]) { attended.insert(block) }
        }
        layersPerBlock = resnets
        upBlocksWithAttentions = attended
    }

    private static let whole = ["input_blocks_0_0": "conv_in", "out_2": "conv_out", "time_embed_0": "time_embedding_linear_1",
                                "time_embed_2": "time_embedding_linear_2", "label_emb_0_0": "add_embedding_linear_1",
                                "label_emb_0_2": "add_embedding_linear_2"]
    private static let resnetLayers = ["in_layers_2": "conv1", "emb_layers_1": "time_emb_proj", "out_layers_3": "conv2",
                                       "skip_connection": "conv_shortcut"]

    /// The underscored diffusers path of an LDM-named module; any other name (diffusers-style, or an
    /// LDM name this UNet has no place for) comes back unchanged, so binding reports it as it is.
    func diffusersName(_ name: String) -> String {
        if let mapped = Self.whole[name] { return mapped }
        let parts = name.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        let span = layersPerBlock + 1
        func resnet(_ rest: String) -> String { Self.resnetLayers[rest] ?? rest }
        if parts.count > 4, parts[0] == "input", parts[1] == "blocks", let i = Int(parts[2]), let inner = Int(parts[3]), i >= 1 {
            let rest = parts[4...].joined(separator: "_")
            let (block, layer) = ((i - 1) / span, (i - 1) % span)
            switch (layer == layersPerBlock, inner) {
            case (true, 0) where rest == "op": return "down_blocks_\(block)_downsamplers_0_conv"
            case (false, 0): return "down_blocks_\(block)_resnets_\(layer)_\(resnet(rest))"
            case (false, 1): return "down_blocks_\(block)_attentions_\(layer)_\(rest)"
            default: return name
            }
        }
        if parts.count > 3, parts[0] == "middle", parts[1] == "block", let inner = Int(parts[2]) {
            let rest = parts[3...].joined(separator: "_")
            switch inner {
            case 0, 2: return "mid_block_resnets_\(inner / 2)_\(resnet(rest))"
            case 1: return "mid_block_attentions_0_\(rest)"
            default: return name
            }
        }
        if parts.count > 4, parts[0] == "output", parts[1] == "blocks", let i = Int(parts[2]), let inner = Int(parts[3]) {
            let rest = parts[4...].joined(separator: "_")
            let (block, layer) = (i / span, i % span)
            let attended = upBlocksWithAttentions.contains(block)
            switch inner {
            case 0: return "up_blocks_\(block)_resnets_\(layer)_\(resnet(rest))"
            case 1 where attended: return "up_blocks_\(block)_attentions_\(layer)_\(rest)"
            case 1 where rest == "conv", 2 where rest == "conv": return "up_blocks_\(block)_upsamplers_0_conv"
            default: return name
            }
        }
        return name
    }
}
