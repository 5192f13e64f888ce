import Foundation
import Hummingbird
import NIOCore

/// The models one server serves, each an ``OpenAIService`` over an engine of its own, behind one
/// HTTP front (as llama-server's router mode and LiteLLM serve several models). `/v1/models` lists
/// them in order, and a request's `model` field picks the one that answers it. A request that
/// names no served model goes to the first, whose handler answers as a one-model server does: 404
/// `model_not_found` for an unknown name, 400 for a missing one.
///
/// ```swift
/// let models = ServedModels([chat, vision])
/// var request = request
/// let service = try await models.service(for: &request)
/// ```
public final class ServedModels: Sendable {
    /// In the order `/v1/models` lists them; the first answers requests that name no served model.
    public let services: [OpenAIService]
    private let byName: [String: OpenAIService]

    /// `services` must be non-empty and have distinct names.
    public init(_ services: [OpenAIService]) {
        precondition(!services.isEmpty, "a server serves at least one model")
        self.services = services
        byName = Dictionary(services.map { ($0.engine.servedModel.name, $0) }, uniquingKeysWith: { first, _ in first })
        precondition(byName.count == services.count, "served model names must differ")
    }

    /// The model that answers `request`. With several models the body is read (it stays readable
    /// for the handler) to find its `model` field; with one, nothing is read, so an overloaded
    /// engine can still refuse before the body arrives.
    public func service(for request: inout Request) async throws -> OpenAIService {
        guard services.count > 1 else { return services[0] }
        let body = try await OpenAIService.collectBody(of: &request, limit: services[0].configuration.maxBodyBytes)
        let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        return (object?["model"] as? String).flatMap { byName[$0] } ?? services[0]
    }

    /// `GET /v1/models`: every served model.
    func models() -> Response {
        OpenAIService.jsonObject(["object": "list", "data": services.map(\.modelObject) + services.compactMap(\.imageModelObject)])
    }

    /// The model named `name` (404 for another name), or the first without a name.
    func service(named name: String?) throws(APIError) -> OpenAIService {
        guard let name else { return services[0] }
        guard let service = byName[name] else { throw .modelNotFound(name) }
        return service
    }

    /// `GET /v1/models/{model}`: that model, or 404.
    func model(named name: String) throws(APIError) -> Response {
        if let image = services.lazy.compactMap(\.imageModelObject).first(where: { $0["id"] as? String == name }) {
            return OpenAIService.jsonObject(image)
        }
        return OpenAIService.jsonObject(try service(named: name).modelObject)
    }

    /// `GET /health`: 200 while every model can serve, else 503 with the first reason.
    func health() -> Response {
        (services.first { $0.unavailableReason != nil } ?? services[0]).health()
    }

    /// `GET /ready`: ready while every model is, else 503 with the first reason.
    func readiness() -> Response {
        (services.first { $0.unavailableReason != nil } ?? services[0]).readiness()
    }

    /// `GET /metrics`: every model's metrics (each labelled with its `model_name`), every registry once.
    func metricsResponse(accept: String?) -> Response {
        var seen = Set<ObjectIdentifier>()
        let format = MetricsExposition.Format(accept: accept)
        var text = ""
        for service in services {
            service.metrics.update(from: service.engine.statistics())
            if let imageModel = service.imageModel { service.metrics.update(from: imageModel.engine.statistics()) }
            if seen.insert(ObjectIdentifier(service.metrics.registry)).inserted { text += service.metrics.exposition(format) }
        }
        return Response(status: .ok, headers: [.contentType: format.contentType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Drains every model at once (see ``OpenAIService/drain()``).
    public func drain() async {
        await withTaskGroup(of: Void.self) { group in
            for service in services { group.addTask { await service.drain() } }
        }
    }
}
