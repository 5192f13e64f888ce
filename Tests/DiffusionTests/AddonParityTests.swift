import Diffusion
import Foundation
import Imaging
import Models
import ServingAPI
import Tensor
import Testing

/// LoRAs and ControlNets in `StableDiffusionPipeline` against diffusers on sd1-tiny and sdxl-tiny
/// (fixtures/diffusion/addons/, written by scripts/fixtures/diffusion_references.py addons, addon-text
/// and addons-xl):
/// `load_lora_weights` with `cross_attention_kwargs={"scale": s}` or `set_adapters` (PEFT, kohya and
/// kohya LoCon files), `StableDiffusionControlNetPipeline` with one ControlNet or a MultiControlNet,
/// the ControlNet image-to-image pipelines of SD 1.x and SDXL. Serialized: the merged mode writes
/// into the one shared pipeline's weights.
@Suite(.serialized) struct AddonParityTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name, folder, prompt: String
        let scheduler, negativePrompt: String?
        let guidance: Float
        let seed: UInt64
        let steps, width, height: Int
        let loras: [(file: String, scale: Float)]
        let controlNets: [(folder: String, image: String, scale: Float, start: Float, end: Float)]
        /// Image-to-image (`StableDiffusionControlNetImg2ImgPipeline`): the init image and strength.
        let initImage: String?
        let strength: Double?
        var testDescription: String { name }
    }

    static let cases = load("addons/cases.json")
    /// SDXL with a LoRA on the UNet and both text encoders (`StableDiffusionXLPipeline`) and with
    /// ControlNets (`StableDiffusionXLControlNetPipeline`), from addons-xl.
    static let xlCases = load("addons/xl-cases.json")

    static func load(_ file: String) -> [Case] {
        guard let json = try? Fixtures.json(file), let cases = json["cases"] as? [[String: Any]] else { return [] }
        func float(_ value: Any?) -> Float { Float((value as! NSNumber).doubleValue) }
        return cases.map {
            Case(name: $0["name"] as! String, folder: $0["folder"] as! String, prompt: $0["prompt"] as! String, scheduler: $0["scheduler"] as? String,
                 negativePrompt: $0["negative_prompt"] as? String, guidance: float($0["guidance_scale"]),
                 seed: ($0["seed"] as! NSNumber).uint64Value, steps: $0["steps"] as! Int, width: $0["width"] as! Int, height: $0["height"] as! Int,
                 loras: ($0["loras"] as! [[String: Any]]).map { ($0["file"] as! String, float($0["scale"])) },
                 controlNets: ($0["controlnets"] as! [[String: Any]]).map {
                     ($0["folder"] as! String, $0["image"] as! String, float($0["scale"]), float($0["start"]), float($0["end"]))
                 },
                 initImage: $0["init_image"] as? String, strength: ($0["strength"] as? NSNumber)?.doubleValue)
        }
    }

    static let pipeline = Result { try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent("sd1-tiny")) }
    static let xlPipeline = Result { try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent("sdxl-tiny")) }

    static func pipeline(for c: Case) throws -> StableDiffusionPipeline {
        try (c.folder == "sdxl-tiny" ? xlPipeline : pipeline).get()
    }

    static func request(_ c: Case, mode: LoRAMode) throws -> TextToImageRequest {
        let loras = try c.loras.map { LoRARequest(file: try LoRAFile(url: Fixtures.diffusion.appendingPathComponent($0.file)), scale: $0.scale) }
        let controls = try c.controlNets.map {
            ControlNetRequest(controlNet: try ControlNetModel(directory: Fixtures.diffusion.appendingPathComponent($0.folder)),
                              image: try ImageDecoder.decode(contentsOf: Fixtures.diffusion.appendingPathComponent($0.image)),
                              scale: $0.scale, start: $0.start, end: $0.end)
        }
        return TextToImageRequest(prompt: c.prompt, negativePrompt: c.negativePrompt, steps: c.steps, guidanceScale: c.guidance,
                                  scheduler: try c.scheduler.map { try #require(SchedulerKind(rawValue: $0)) },
                                  width: c.width, height: c.height, seed: c.seed,
                                  initImage: try c.initImage.map { try ImageDecoder.decode(contentsOf: Fixtures.diffusion.appendingPathComponent($0)) },
                                  strength: c.strength, loras: loras, loraMode: mode, controlNets: controls)
    }

    @Test func casesArePresent() {
        #expect(Self.cases.count >= 6)
        #expect(Self.cases.contains { $0.loras.count == 2 } && Self.cases.contains { $0.controlNets.count == 2 })
        #expect(Self.cases.contains { $0.initImage != nil && !$0.controlNets.isEmpty && !$0.loras.isEmpty })
        #expect(Self.xlCases.filter { !$0.loras.isEmpty }.count >= 3)
        #expect(Self.xlCases.contains { $0.loras.contains { $0.file.hasSuffix("kohya-ldm.safetensors") } })
        #expect(Self.xlCases.contains { $0.controlNets.count == 1 } && Self.xlCases.contains { $0.controlNets.count == 2 })
        #expect(Self.cases.filter { $0.loras.contains { $0.file.hasSuffix("locon.safetensors") } }.count >= 2)
        #expect(Self.xlCases.contains { $0.initImage != nil && $0.controlNets.count == 1 }
                && Self.xlCases.contains { $0.initImage != nil && $0.controlNets.count == 2 && !$0.loras.isEmpty })
    }

    @Test(arguments: cases + xlCases, [LoRAMode.unmerged, .merged])
    func matchesDiffusers(_ c: Case, mode: LoRAMode) throws {
        let pipeline = try Self.pipeline(for: c)
        let result = try pipeline.generate(try Self.request(c, mode: mode))
        let reference = try SafetensorsFile(url: Fixtures.diffusion.appendingPathComponent("addons/\(c.name).safetensors"))
        let latentError = maxRelativeDifference(result.latents, try reference.floats("latents"))
        let imageError = maxAbsDifference(result.image, try reference.floats("image"))
        print("\(c.name) (\(mode)): latents max rel error \(latentError), image max abs error \(imageError)")
        #expect(latentError < 1e-3)
        #expect(imageError < 1e-3)
        // The add-ons matter: without them the image is far from diffusers'.
        var plain = try Self.request(c, mode: mode)
        plain.loras = []
        plain.controlNets = []
        let without = try pipeline.generate(plain)
        #expect(maxAbsDifference(without.image, try reference.floats("image")) > 1e-2)
    }

    /// Every weight the merge may touch: the UNet's and the text encoder's adaptable ones.
    static func weights(_ pipeline: StableDiffusionPipeline) -> [[Float]] {
        pipeline.unet.parameters.names.map { pipeline.unet.parameters.parameter($0)!.values() }
            + pipeline.textEncoder.adaptableModules.keys.sorted().map { pipeline.textEncoder.adaptableWeight($0)!.values() }
    }

    @Test func mergeThenRestoreIsBitIdentical() throws {
        let pipeline = try Self.pipeline.get()
        let before = Self.weights(pipeline)
        let loras = try ["sd1-tiny-peft", "sd1-tiny-kohya"].enumerated().map {
            LoRARequest(file: try LoRAFile(url: Fixtures.diffusion.appendingPathComponent("loras/\($1).safetensors")), scale: [0.6, 0.9][$0])
        }
        let weights = try pipeline.loraWeights(loras)
        let merged = weights.merge(into: pipeline)
        let during = Self.weights(pipeline)
        let changed = zip(before, during).filter { $0 != $1 }.count
        let textModules = try #require(weights.textEncoders[.textEncoder]).byModule.count
        #expect(changed == weights.unet.byModule.count + textModules && changed > 100 && textModules >= 10)
        merged.restore()
        let after = Self.weights(pipeline)
        #expect(after.map { $0.map(\.bitPattern) } == before.map { $0.map(\.bitPattern) })
    }

    /// The prompt embeddings through the LoRAs' text-encoder parts (merged in place, or per call
    /// unmerged) against diffusers' `encode_prompt` with the LoRAs loaded (addons/text/*.safetensors).
    @Test(arguments: cases.filter { !$0.loras.isEmpty }, [LoRAMode.unmerged, .merged])
    func textEmbeddingsMatchDiffusers(_ c: Case, mode: LoRAMode) throws {
        let pipeline = try Self.pipeline.get()
        let request = try Self.request(c, mode: mode)
        let weights = try pipeline.loraWeights(request.loras)
        let merged = mode == .merged ? weights.merge(into: pipeline) : nil
        let conditioning = try pipeline.conditioning(request, loras: weights)
        merged?.restore()
        let reference = try SafetensorsFile(url: Fixtures.diffusion.appendingPathComponent("addons/text/\(c.name).safetensors"))
        let prompt = try reference.floats("prompt_embeds"), negative = try reference.floats("negative_prompt_embeds")
        let errors = [maxAbsDifference(conditioning.prompt.toArray(), prompt),
                      maxAbsDifference(try #require(conditioning.negativePrompt).toArray(), negative)]
        print("\(c.name) (\(mode)): text embeddings max abs error \(errors)")
        #expect(errors.allSatisfy { $0 < 1e-4 })
        // Without the LoRAs the embeddings are far from diffusers'.
        #expect(maxAbsDifference(try pipeline.encodePrompt(c.prompt).toArray(), prompt) > 1e-2)
    }

    @Test func olderDiffusersNamesReadAsThePEFTFile() throws {
        // The same LoRA under the pre-PEFT diffusers names (`lora.down`/`lora.up`, processors'
        // `to_q_lora`, the text encoder's `text_model.` level) with alphas as tensors.
        let peft = try SafetensorsFile(url: Fixtures.diffusion.appendingPathComponent("loras/sd1-tiny-peft.safetensors"))
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        for name in peft.tensors.keys.sorted() {
            let isDown = name.hasSuffix(".lora_A.weight")
            var module = String(name.dropLast(".lora_A.weight".count))
            let alpha: Float = module.hasPrefix("unet.") ? 8 : 3
            if module.hasSuffix(".attn1.to_q") {
                module = String(module.dropLast(".to_q".count)) + ".processor.to_q_lora"
                tensors.append((module + (isDown ? ".down.weight" : ".up.weight"), try peft.info(name).shape, try peft.floats(name)))
            } else {
                tensors.append((module + (isDown ? ".lora.down.weight" : ".lora.up.weight"), try peft.info(name).shape, try peft.floats(name)))
            }
            if isDown { tensors.append((module + ".alpha", [], [alpha])) }
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("old-names-\(UUID().uuidString).safetensors")
        try Data(SafetensorsWriter.encode(tensors)).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let pipeline = try Self.pipeline.get()
        let old = try pipeline.loraWeights([LoRARequest(file: try LoRAFile(url: url), scale: 0.8)])
        let new = try pipeline.loraWeights([LoRARequest(file: try LoRAFile(url: Fixtures.diffusion.appendingPathComponent("loras/sd1-tiny-peft.safetensors")), scale: 0.8)])
        #expect(Set(old.unet.byModule.keys) == Set(new.unet.byModule.keys))
        #expect(Set(old.textEncoders[.textEncoder]!.byModule.keys) == Set(new.textEncoders[.textEncoder]!.byModule.keys))
        for (path, adapters) in new.unet.byModule {
            #expect(old.unet[path].map(\.scale) == adapters.map(\.scale))
            #expect(old.unet[path].map { $0.up.toFloatArray() } == adapters.map { $0.up.toFloatArray() })
        }
    }

    static func writeLoRA(_ tensors: [(name: String, shape: [Int], values: [Float])]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bad-lora-\(UUID().uuidString).safetensors")
        try Data(SafetensorsWriter.encode(tensors)).write(to: url)
        return url
    }

    @Test func badLoRAFilesNameTheFileAndTensor() throws {
        let pipeline = try Self.pipeline.get()
        let path = "unet.mid_block.attentions.0.transformer_blocks.0.attn1.to_q"
        let cases: [([(name: String, shape: [Int], values: [Float])], String)] = [
            ([(path + ".lora_A.weight", [2, 31], .init(repeating: 0.1, count: 62)), (path + ".lora_B.weight", [32, 2], .init(repeating: 0.1, count: 64))],
             "do not fit the layer's weight [32, 32]"),
            ([(path + ".lora_A.weight", [2, 32], .init(repeating: 0.1, count: 64))], "has no up (lora_B) tensor"),
            ([("unet.mid_block.nonexistent.lora_A.weight", [2, 32], .init(repeating: 0.1, count: 64)),
              ("unet.mid_block.nonexistent.lora_B.weight", [32, 2], .init(repeating: 0.1, count: 64))], "unet has no layer 'mid_block.nonexistent'"),
            ([("lora_unet_mid_block_attentions_0_to_x.lora_down.weight", [2, 32], .init(repeating: 0.1, count: 64)),
              ("lora_unet_mid_block_attentions_0_to_x.lora_up.weight", [32, 2], .init(repeating: 0.1, count: 64))], "has no layer"),
            ([(path + ".weight_thing", [2], [1, 2])], "not a LoRA tensor name"),
            // An LDM name (kohya SDXL) for a place sd1-tiny's UNet does not have: layer 2 of down block 2 is no attention.
            ([("lora_unet_input_blocks_9_1_proj_in.lora_down.weight", [2, 32], .init(repeating: 0.1, count: 64)),
              ("lora_unet_input_blocks_9_1_proj_in.lora_up.weight", [32, 2], .init(repeating: 0.1, count: 64))],
             "unet has no layer 'input_blocks_9_1_proj_in'"),
            ([("lora_unet_conv_in.lora_mid.weight", [2, 2, 3, 3], .init(repeating: 0.1, count: 36))], "lora_mid"),
            ([(path + ".lora_A.weight", [2, 32], .init(repeating: .nan, count: 64)), (path + ".lora_B.weight", [32, 2], .init(repeating: 0.1, count: 64))],
             "non-finite"),
        ]
        for (tensors, message) in cases {
            let url = try Self.writeLoRA(tensors)
            defer { try? FileManager.default.removeItem(at: url) }
            let error = #expect(throws: DiffusionError.self) { try pipeline.loraWeights([LoRARequest(file: try LoRAFile(url: url))]) }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.contains(url.path) && text.contains(message), "\(text)")
            #expect(text.contains("tensor '"), "\(text)")
        }
        #expect(throws: DiffusionError.missingFile("/nonexistent/lora.safetensors")) {
            try LoRAFile(url: URL(fileURLWithPath: "/nonexistent/lora.safetensors"))
        }
    }

    /// Beside the diffusers references (`xlCases`): the two modes agree, and a LoRA on each of the
    /// UNet and both text encoders changes what it adapts.
    @Test func sdxlLoRAsReachTheUNetAndBothTextEncoders() throws {
        let pipeline = try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent("sdxl-tiny"))
        let unetPath = "down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_v"
        let unetShape = try #require(pipeline.unet.parameters.parameter(unetPath + ".weight")).shape
        let textShape = try #require(pipeline.textEncoder.adaptableModules["encoder.layers.0.mlp.fc1"])
        let text2Shape = try #require(pipeline.textEncoder2?.adaptableModules["encoder.layers.1.self_attn.q_proj"])
        func pair(_ name: String, _ shape: [Int], seed: Float) -> [(name: String, shape: [Int], values: [Float])] {
            let rank = 2
            return [(name + ".lora_A.weight", [rank, shape[1]], (0 ..< rank * shape[1]).map { sin(Float($0) * 0.37 + seed) * 0.3 }),
                    (name + ".lora_B.weight", [shape[0], rank], (0 ..< shape[0] * rank).map { cos(Float($0) * 0.53 + seed) * 0.3 })]
        }
        let url = try Self.writeLoRA(pair("unet." + unetPath, unetShape, seed: 1) + pair("text_encoder.text_model.encoder.layers.0.mlp.fc1", textShape, seed: 2)
                                     + pair("text_encoder_2.text_model.encoder.layers.1.self_attn.q_proj", text2Shape, seed: 3))
        defer { try? FileManager.default.removeItem(at: url) }
        let lora = LoRARequest(file: try LoRAFile(url: url), scale: 0.7)
        let weights = try pipeline.loraWeights([lora])
        #expect(Array(weights.unet.byModule.keys) == [unetPath])
        #expect(weights.textEncoders[.textEncoder]?.byModule.keys.first == "encoder.layers.0.mlp.fc1")
        #expect(weights.textEncoders[.textEncoder2]?.byModule.keys.first == "encoder.layers.1.self_attn.q_proj")
        var request = TextToImageRequest(prompt: "a fox", steps: 2, guidanceScale: 5, width: 64, height: 64, seed: 3)
        let plain = try pipeline.generate(request)
        let plainText = try pipeline.conditioning(request).prompt.toArray()
        request.loras = [lora]
        let unmerged = try pipeline.generate(request)
        request.loraMode = .merged
        let merged = try pipeline.generate(request)
        #expect(maxAbsDifference(merged.image, unmerged.image) < 1e-4)
        #expect(maxAbsDifference(plain.image, unmerged.image) > 1e-3)
        // The encoders' share of the 77 × (d₁ + d₂) states both change.
        request.loraMode = .unmerged
        let adapted = try pipeline.conditioning(request).prompt.toArray()
        let width = pipeline.textEncoder.hiddenSize + pipeline.textEncoder2!.hiddenSize
        for (range, name) in [(0 ..< pipeline.textEncoder.hiddenSize, "text_encoder"), (pipeline.textEncoder.hiddenSize ..< width, "text_encoder_2")] {
            var change: Float = 0
            for r in 0 ..< 77 {
                for c in range { change = max(change, abs(adapted[r * width + c] - plainText[r * width + c])) }
            }
            #expect(change > 1e-3, "\(name) changes by \(change)")
        }
    }

    /// The LoCon references (`sd1-locon*`, a kohya LoCon through diffusers' `load_lora_weights`) cover
    /// the k×k convolutions: the file adapts every spatial convolution of the UNet (conv_in, resnets,
    /// down- and upsamplers, conv_out; down [r, in, k, k], up [out, r, 1, 1]), and without those
    /// modules the image is far from diffusers'.
    @Test func loConReferencesNeedTheConvolutions() throws {
        let pipeline = try Self.pipeline.get()
        let c = try #require(Self.cases.first { $0.name == "sd1-locon" })
        let url = Fixtures.diffusion.appendingPathComponent(c.loras[0].file)
        let file = try LoRAFile(url: url)
        var spatial: Set<String> = []
        for name in pipeline.unet.parameters.names where name.hasSuffix(".weight") {
            let shape = pipeline.unet.parameters.parameter(name)!.shape
            if shape.count == 4, shape[2] > 1 { spatial.insert(String(name.dropLast(".weight".count))) }
        }
        #expect(spatial.contains("conv_in") && spatial.contains("conv_out") && spatial.contains { $0.contains("downsamplers") }
                && spatial.contains { $0.contains("upsamplers") } && spatial.contains { $0.hasSuffix("resnets.0.conv2") })
        let adapted = Set(try pipeline.loraWeights([LoRARequest(file: file)]).unet.byModule.keys)
        #expect(adapted.isSuperset(of: spatial) && adapted.count > spatial.count)
        // The same file without its k×k modules.
        let convolutions = Set(file.modules.filter { $0.downShape.count == 4 && $0.downShape[2] > 1 }.map { "lora_unet_" + $0.name })
        #expect(convolutions.count == spatial.count)
        let source = try SafetensorsFile(url: url)
        let tensors = try source.tensors.keys.sorted().filter { name in !convolutions.contains(String(name.prefix { $0 != "." })) }.map {
            (name: $0, shape: try source.info($0).shape, values: try source.floats($0))
        }
        let pointwise = try Self.writeLoRA(tensors)
        defer { try? FileManager.default.removeItem(at: pointwise) }
        var request = try Self.request(c, mode: .unmerged)
        request.loras = [LoRARequest(file: try LoRAFile(url: pointwise), scale: c.loras[0].scale)]
        let reference = try SafetensorsFile(url: Fixtures.diffusion.appendingPathComponent("addons/\(c.name).safetensors"))
        let difference = maxAbsDifference(try pipeline.generate(request).image, try reference.floats("image"))
        print("LoCon without its k×k modules: image max abs difference from diffusers \(difference)")
        #expect(difference > 1e-2)
    }

    @Test func badControlArgumentsAreRefused() throws {
        let pipeline = try Self.pipeline.get()
        let c = try #require(Self.cases.first { $0.controlNets.count == 1 })
        var request = try Self.request(c, mode: .unmerged)
        request.controlNets[0].start = 0.8
        request.controlNets[0].end = 0.5
        #expect(throws: DiffusionError.self) { try pipeline.conditioning(request) }
        request.controlNets[0].end = 1
        request.controlNets[0].scale = .nan
        #expect(throws: DiffusionError.self) { try pipeline.conditioning(request) }
    }

    @Test func controlWindowFollowsDiffusersKeep() throws {
        let c = try #require(Self.cases.first { $0.controlNets.count == 1 })
        var request = try Self.request(c, mode: .unmerged).controlNets[0]
        request.scale = 0.5
        request.start = 0.25
        request.end = 0.6
        let condition = try ControlCondition(request, width: 64, height: 64)
        // 4 steps: i/4 < 0.25 drops step 0, (i+1)/4 > 0.6 drops steps 2 and 3.
        #expect((0 ..< 4).map { condition.scale(step: $0, of: 4) } == [0, 0.5, 0, 0])
    }
}
