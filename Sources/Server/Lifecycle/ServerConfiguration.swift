import Imaging

/// Limits and options of the HTTP front end (the engine has its own, in `EngineConfig`).
public struct ServerConfiguration: Sendable {
    /// Largest request body accepted; larger ones get a 413. The default fits several large base64 images.
    public var maxBodyBytes = 64 << 20
    /// Pixel bytes of decoded images kept by their encoded bytes, so a repeated image skips decoding.
    public var decodedImageCacheBytes = 256 << 20
    /// Limits on each decoded image.
    public var imageLimits = ImageLimits(maxEncodedBytes: 20 << 20, maxPixels: 40_000_000)
    /// Hosts that `http(s)` image URLs may point at; empty refuses them all.
    public var allowedMediaDomains: [String] = []
    /// Largest image download.
    public var mediaMaxBytes = 20 << 20
    /// Longest image download.
    public var mediaTimeout: Duration = .seconds(10)
    /// How long in-flight requests may run after SIGTERM before they are aborted.
    public var drainTimeout: Duration = .seconds(30)
    /// A Jinja chat template used instead of the model's own (`--chat-template`).
    public var chatTemplate: String?

    public init() {}
}
