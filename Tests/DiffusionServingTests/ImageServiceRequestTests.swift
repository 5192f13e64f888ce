import Diffusion
import DiffusionServing
import Imaging
import ServingAPI
import Testing

/// The engine behind the images API's model-free ``ImageRequest``: each field reaches the pipeline
/// (the image equals the pipeline's own for the same arguments), and the output-size rule the API
/// and a front end call answers as the pipeline does.
@Suite struct ImageServiceRequestTests {
    @Test func anAPIRequestMakesThePipelinesImage() async throws {
        let pipeline = try StableDiffusionPipeline(directory: StepBatchingTests.folder)
        let service: any ImageGenerationService = DiffusionEngine(pipeline: pipeline)
        let parameters = ImageGenerationParameters(prompt: "a red cube", negativePrompt: "blurry", steps: 4, guidanceScale: 6, width: 64, height: 48,
                                                   seed: 7)
        let overrides = SchedulerOverrides(useKarrasSigmas: true, timestepSpacing: .trailing)
        let request = ImageRequest(parameters, scheduler: .dpmSolverMultistep, schedulerOverrides: overrides, previews: ImagePreviews(interval: 2))
        var progress: [Int] = [], previews: [Int] = [], served: GeneratedImage?
        for try await event in try service.submit([request]) {
            switch event {
            case let .progress(_, step, _, _, preview):
                progress.append(step)
                if preview != nil { previews.append(step) }
            case let .image(_, image, _): served = image
            }
        }
        var expected = TextToImageRequest(parameters, scheduler: .dpmSolverMultistep)
        expected.schedulerOverrides = overrides
        #expect(try served?.latents == pipeline.generate(expected).latents)
        #expect(progress == [1, 2, 3, 4] && previews == [2, 4])
        #expect(try service.outputSize(request) == (48, 64) as (Int, Int))
        await service.shutdown(gracePeriod: .seconds(1))
    }

    @Test func theSizeRuleAnswersAsThePipeline() throws {
        let pipeline = try StableDiffusionPipeline(directory: StepBatchingTests.folder)
        let rule = pipeline.sizeRule
        let image = try RGBImage(width: 73, height: 41, pixels: [UInt8](repeating: 9, count: 73 * 41 * 3))
        for (width, height, initImage) in [(nil, nil, nil), (64, 32, nil), (nil, nil, image), (nil, 64, image), (60, 64, nil)] as [(Int?, Int?, RGBImage?)] {
            let request = TextToImageRequest(prompt: "x", width: width, height: height, initImage: initImage)
            let fromRule = try? rule.outputSize(width: width, height: height, initImage: initImage)
            let fromPipeline = try? pipeline.outputSize(request)
            #expect(fromRule?.height == fromPipeline?.height && fromRule?.width == fromPipeline?.width, "\(String(describing: width))x\(String(describing: height))")
        }
        #expect(try rule.outputSize(width: nil, height: nil, initImage: image) == (40, 72) as (Int, Int))
        #expect(throws: ImageGenerationError.invalidRequest("size: width and height must be positive multiples of \(pipeline.sizeMultiple), got 60×64",
                                                            param: "size")) {
            try rule.checkedOutputSize(width: 60, height: 64, initImage: nil, maxPixels: 1 << 20)
        }
        #expect(throws: ImageGenerationError.invalidRequest("size 64x64 has more than the 1000 pixels this server generates", param: "size")) {
            try rule.checkedOutputSize(width: 64, height: 64, initImage: nil, maxPixels: 1000)
        }
    }
}
