import Foundation
import Hummingbird
import Imaging
import NIOCore
import ServingAPI

/// A diffusion model served next to the language model, by a diffusion engine in this process
/// or by the diffusion workers of a `--topology` cluster.
public struct ServedImageModel: Sendable {
    public let name: String
    public let engine: any ImageGenerationService
    public let createdAt: Date

    public init(name: String, engine: any ImageGenerationService, createdAt: Date = Date()) {
        self.name = name
        self.engine = engine
        self.createdAt = createdAt
    }
}

/// `POST /v1/images/generations` as OpenAI defines it, with `b64_json` PNGs, plus diffusers'
/// arguments as extension fields. `stream: true` sends a progress event per denoising step of each
/// image (with `preview_interval`, every so many carry a PNG preview of the latents at their size,
/// 1/8 of the image's on SD) and then each image as OpenAI's `image_generation.completed`; with
/// `partial_images: k` (1–3), OpenAI's `image_generation.partial_image` events carry such previews
/// at k steps spread over the image's (``ImagePreviews/partialImageSteps(total:)``). A client that
/// leaves cancels its images at the next step boundary.
///
/// ```
/// curl localhost:8000/v1/images/generations -d '{"prompt": "a cat", "size": "64x64", "seed": 1, "num_inference_steps": 20}'
/// ```
extension OpenAIService {
    func imageGenerations(_ request: Request, _ context: ConnectionContext) async throws -> Response {
        try await respond(request, watch: ClientWatch(channel: context.channel), admitting: false, generateImages)
    }

    @Sendable func generateImages(_ body: Data, arrival: ContinuousClock.Instant, watch: ClientWatch) async throws -> Response {
        let request = try RequestDecoding.decode(ImageGenerationRequest.self, from: body, fields: ImageGenerationRequest.fields)
        try ImageGenerationRequest.checkAddOnFields(body)
        let served = try imageModel(named: request.model)
        var initImage: RGBImage?
        if let url = request.image { initImage = try await images.load([ImageLoader.Reference(url: url, param: "image")])[0] }
        let controlImages = try await images.load((request.controlnets ?? []).enumerated().map {
            ImageLoader.Reference(url: $1.image, param: "controlnets[\($0)].image")
        })
        let maxControlPixels = Self.maxControlImageScale * served.engine.maxPixels
        if let (i, image) = controlImages.enumerated().first(where: { $1.width * $1.height > maxControlPixels }) {
            throw APIError.invalidRequest(
                "the control image of controlnets[\(i)] has \(image.width)x\(image.height) pixels, more than the \(maxControlPixels) this server takes "
                    + "(\(Self.maxControlImageScale)× its largest output)", param: "controlnets[\(i)].image", code: "image_too_large")
        }
        let addOns = try request.addOns(controlImages: controlImages)
        guard let defaultGuidance = served.engine.defaultGuidanceScale else {
            metrics.recordRejection()
            throw APIError.unavailable("no diffusion worker has registered yet", retryAfterSeconds: 1)
        }
        let requests = try request.imageRequests(defaultSize: served.engine.defaultSize, defaultGuidance: defaultGuidance, initImage: initImage, addOns: addOns)
        let events: AsyncThrowingStream<ImageGenerationEvent, any Error>
        do {
            events = try served.engine.submit(requests)
        } catch {
            if case .overloaded = error { metrics.recordRejection() }
            throw APIError(error)
        }
        let created = Int(Date().timeIntervalSince1970)
        let output = try? served.engine.outputSize(requests[0])
        let size = output.map { "\($0.width)x\($0.height)" } ?? "auto"
        if request.stream == true {
            return Response(status: .ok, headers: ServerSentEvents.headers, body: ResponseBody { [self] writer in
                var sse = ServerSentEvents(writer: writer)
                do {
                    for try await event in events {
                        switch event {
                        case let .progress(index, step, total, elapsed, preview):
                            var object: [String: Any] = ["type": "image_generation.progress", "index": index, "step": step, "total": total, "elapsed": elapsed]
                            let png = try preview.map { try Data(PNGEncoder.encode(rgb: $0.pixels, width: $0.width, height: $0.height)).base64EncodedString() }
                            let previewSize = preview.map { "\($0.width)x\($0.height)" }
                            if let png, requests[index].previews.isIntervalPreview(step: step) { object["preview"] = ["b64_json": png, "size": previewSize!] }
                            try await sse.send(raw: Self.jsonData(object))
                            if let png, let partial = requests[index].previews.partialImageIndex(step: step, total: total) {
                                // The preview at the latents' resolution; `size` says which.
                                try await sse.send(raw: Self.jsonData([
                                    "type": "image_generation.partial_image", "b64_json": png, "partial_image_index": partial, "index": index,
                                    "created_at": created, "size": previewSize!, "output_format": "png", "background": "opaque", "quality": "auto",
                                ]))
                            }
                        case let .image(index, image, timing):
                            metrics.recordImage(timing)
                            var object = try Self.imageObject(image)
                            object.merge(["type": "image_generation.completed", "index": index, "created_at": created, "size": size,
                                          "output_format": "png", "background": "opaque", "quality": "auto"]) { $1 }
                            try await sse.send(raw: Self.jsonData(object))
                        }
                    }
                } catch let error as ImageGenerationError {
                    try await sse.send(raw: APIError(error).jsonBody)
                }
                try await sse.finish()
            })
        }
        let generated: [Int: [String: Any]]
        do { generated = try await watch.run { [metrics] in
            var images: [Int: [String: Any]] = [:]
            for try await event in events {
                if case let .image(index, image, timing) = event {
                    metrics.recordImage(timing)
                    images[index] = try Self.imageObject(image)
                }
            }
            try Task.checkCancellation()
            return Self.SendableBox(images)
        }.value } catch let error as ImageGenerationError {
            throw APIError(error)
        }
        return Self.jsonObject([
            "created": created, "data": generated.keys.sorted().map { generated[$0]! }, "size": size, "output_format": "png",
            "background": "opaque", "quality": "auto",
        ])
    }

    /// The served image model `name` asks for (any when `nil`); 404 for other names.
    func imageModel(named name: String?) throws(APIError) -> ServedImageModel {
        guard let imageModel else {
            throw APIError(status: .notFound, message: "this server serves no image model; start tessera serve with --image-model DIR",
                           type: "invalid_request_error", param: "model", code: "model_not_found")
        }
        if let name, name != imageModel.name {
            if name == engine.servedModel.name {
                throw APIError.invalidRequest("the model '\(APIError.excerpt(name))' is a language model; the image model is '\(imageModel.name)'",
                                              param: "model", code: "model_not_supported")
            }
            throw APIError.modelNotFound(name)
        }
        return imageModel
    }

    /// A control image may have this many times the pixels of the largest image the server makes
    /// (it is resized to the output size; a larger one only costs decoding time and memory).
    static let maxControlImageScale = 4

    /// `GET /v1/adapters`: the LoRAs and ControlNets registered for the image model, by name.
    func adapters() throws -> Response {
        let served = try imageModel(named: nil)
        return Self.jsonObject([
            "object": "list",
            "data": served.engine.adapters.map { adapter -> [String: Any] in
                var object: [String: Any] = ["id": adapter.name, "object": "adapter", "type": adapter.kind.rawValue, "model": served.name]
                object["cached"] = adapter.cached
                return object
            },
        ])
    }

    /// `{"b64_json": PNG}` for an image.
    static func imageObject(_ image: GeneratedImage) throws -> [String: Any] {
        let png = try PNGEncoder.encode(rgb: image.rgb8, width: image.width, height: image.height)
        return ["b64_json": Data(png).base64EncodedString(), "revised_prompt": NSNull()]
    }

    static func jsonData(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    /// Carries JSON objects (made of Sendable values) out of a task.
    struct SendableBox: @unchecked Sendable {
        let value: [Int: [String: Any]]
        init(_ value: [Int: [String: Any]]) { self.value = value }
    }
}

extension APIError {
    /// How an image engine refusal reads to an API client.
    init(_ error: ImageGenerationError) {
        switch error {
        case let .overloaded(seconds): self = .unavailable(error.description, retryAfterSeconds: seconds)
        case let .invalidRequest(message, param): self = .invalidRequest(message, param: param, code: "invalid_value")
        case let .adapterNotFound(message, param):
            self = APIError(status: .notFound, message: message, type: "invalid_request_error", param: param, code: "adapter_not_found")
        case .shuttingDown: self = .unavailable(error.description, retryAfterSeconds: nil)
        case let .failed(message): self = .internalError(message)
        }
    }
}
