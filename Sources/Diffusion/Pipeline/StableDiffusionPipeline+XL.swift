import Foundation
import Models
import Tensor

/// SDXL's conditioning (Podell et al., 2023, §2.1–2.2), as diffusers' `StableDiffusionXLPipeline`
/// builds it in `encode_prompt` and `_get_add_time_ids`: both text encoders' penultimate hidden
/// states side by side, the second encoder's projected pooled output as `text_embeds`, and the
/// six size/crop numbers (original size, crop top-left, target size) as `time_ids`.
extension StableDiffusionPipeline {
    /// diffusers' default `guidance_scale`: 5 for the SDXL pipelines (with or without ControlNets or
    /// an init image), 7.5 for SD 1.x/2.x.
    public var defaultGuidanceScale: Float { textEncoder2 != nil ? 5 : 7.5 }

    /// The 77 × (d₁ + d₂) cross-attention states and the pooled projection (`text_embeds`) of `text`
    /// through the first encoder and `text2` through the second (diffusers' `prompt_2`: `nil` or
    /// empty takes `text`); `adapters` are the request's text-encoder LoRAs per encoder.
    public func encodePromptXL(_ text: String, text2: String? = nil, adapters: [LoRAFile.Component: LowRankAdapters] = [:])
        throws(DiffusionError) -> (hiddenStates: Matrix, pooled: [Float]) {
        guard let tokenizer2, let textEncoder2 else { throw .invalidArgument("SDXL prompt encoding needs text_encoder_2") }
        let first: CLIPTextModel.Output, second: CLIPTextModel.Output
        do {
            first = try textEncoder.encode(tokenizer.encodePadded(text), adapters: adapters[.textEncoder] ?? LowRankAdapters())
            second = try textEncoder2.encode(tokenizer2.encodePadded(text2.orIfEmpty(text)), adapters: adapters[.textEncoder2] ?? LowRankAdapters())
        } catch {
            throw .invalidArgument("text encoder: \(error)")
        }
        let (a, b) = (first.penultimateHiddenState, second.penultimateHiddenState)
        guard a.rows == b.rows, let pooled = second.projected else {
            throw .invalidArgument("text encoders disagree: \(a.rows) and \(b.rows) tokens, projection \(second.projected == nil ? "missing" : "present")")
        }
        let joined = Matrix(rows: a.rows, cols: a.cols + b.cols)
        for r in 0 ..< a.rows {
            joined.row(r).update(from: a.row(r), count: a.cols)
            (joined.row(r) + a.cols).update(from: b.row(r), count: b.cols)
        }
        return (joined, pooled)
    }

    /// The conditioning of an SDXL request: with guidance, the negative prompts' states, or zeros
    /// when there is no `negativePrompt` and the folder sets `force_zeros_for_empty_prompt` (as
    /// diffusers, a `negativePrompt2` alone does not count).
    func xlConditioning(_ request: TextToImageRequest,
                        textAdapters: [LoRAFile.Component: LowRankAdapters] = [:]) throws(DiffusionError) -> DenoisingConditioning {
        let (height, width) = try outputSize(request)
        let positive = try encodePromptXL(request.prompt, text2: request.prompt2, adapters: textAdapters)
        var negative: (hiddenStates: Matrix, pooled: [Float])?
        if request.guidanceScale > 1 {
            if request.negativePrompt == nil && forceZerosForEmptyPrompt {
                negative = (Matrix(rows: positive.hiddenStates.rows, cols: positive.hiddenStates.cols),
                            [Float](repeating: 0, count: positive.pooled.count))
            } else {
                let text = request.negativePrompt ?? ""
                negative = try encodePromptXL(text, text2: request.negativePrompt2.orIfEmpty(text), adapters: textAdapters)
            }
        }
        // original_size = target_size = (height, width), crops_coords_top_left = (0, 0).
        let timeIds = [height, width, 0, 0, height, width].map(Float.init)
        return DenoisingConditioning(prompt: positive.hiddenStates, negativePrompt: negative?.hiddenStates,
                                     guidanceScale: request.guidanceScale,
                                     textTime: TextTimeConditioning(textEmbeds: positive.pooled, negativeTextEmbeds: negative?.pooled,
                                                                    timeIds: timeIds))
    }

    /// The UNet's added conditioning must fit the pipeline: `text_time` exactly when there is a
    /// second encoder, with its projection size (diffusers checks the same in `_get_add_time_ids`).
    func checkAddedConditioning(directory: URL) throws(DiffusionError) {
        let file = directory.appendingPathComponent("unet/config.json").path
        switch (unet.textEmbedsDim, textEncoder2?.projectionSize) {
        case (nil, nil):
            return
        case let (expected?, projection?) where expected == projection:
            return
        case let (expected?, projection?):
            throw .invalidConfig(file: file, detail: "the UNet's text_time embedding expects text_embeds of \(expected), text_encoder_2 projects to \(projection)")
        case (nil, _?):
            throw .invalidConfig(file: file, detail: "an SDXL pipeline needs addition_embed_type text_time")
        case (_?, nil):
            throw .invalidConfig(file: file, detail: "addition_embed_type text_time needs an SDXL pipeline with text_encoder_2 (CLIPTextModelWithProjection)")
        }
    }
}

/// SDXL's `added_cond_kwargs` for the guidance rows: the pooled text embeddings (zeros or the
/// negative prompt's for the unconditional row) and the shared `time_ids`.
public struct TextTimeConditioning: Sendable {
    public var textEmbeds: [Float]
    /// `nil` without classifier-free guidance.
    public var negativeTextEmbeds: [Float]?
    /// original height, width; crop top, left; target height, width.
    public var timeIds: [Float]

    public init(textEmbeds: [Float], negativeTextEmbeds: [Float]?, timeIds: [Float]) {
        self.textEmbeds = textEmbeds
        self.negativeTextEmbeds = negativeTextEmbeds
        self.timeIds = timeIds
    }
}

extension Optional where Wrapped == String {
    /// Python's `text or fallback` for an optional prompt: `nil` and "" give `fallback`.
    func orIfEmpty(_ fallback: String) -> String {
        guard let self, !self.isEmpty else { return fallback }
        return self
    }
}
