import Cluster

extension CostModel {
    /// An image worker's costs (a diffusion model on this hardware), in milliseconds, priced per
    /// output pixel so one profile covers every size. A row's work grows with its pixels (the
    /// convolutions) and with their square (self-attention over the latent's tokens):
    /// - one step-batched UNet call: `stepFixedMs + Σ rows (stepPerRowPixelMs · p + stepPerRowPixelSquaredMs · p²)`,
    ///   `p` = width · height (two rows per guided image);
    /// - one ControlNet residual call of one row run in-process:
    ///   `controlNetFixedMs + controlNetPerPixelMs · p + controlNetPerPixelSquaredMs · p²`;
    /// - VAE decode of one image: `vaeDecodeFixedMs + vaeDecodePerPixelMs · width · height`;
    /// - text encoding of one image's prompts when it joins: `textEncodeMs`;
    /// - a LoRA read from disk (file read and parse, on the worker's loader): `loraLoadMs`; binding
    ///   it to the model when it joins an image (on the step loop): `loraBindMs`; merging one LoRA
    ///   into the UNet's weights and restoring them: `loraMergeMs`;
    /// - one LoRA applied unmerged (low-rank, per row) to one row of a `width`×`height` image in a
    ///   batch that mixes LoRA sets: `unmergedLoRAFixedMs + unmergedLoRAPerPixelMs · p + unmergedLoRAPerPixelSquaredMs · p²`.
    ///
    /// `loraBindMs`, the unmerged LoRA costs and the `…PixelSquaredMs` terms may be absent (profiles
    /// that did not measure them): 0.
    ///
    /// `maxBatchSize` is the worker's step-batch cap and `loraCacheEntries` the LoRAs its adapter
    /// cache keeps (least recently used out first). `memory`, when profiled, prices each image's
    /// activation memory for the worker's admissions (``ImageMemoryBudget``); absent, images are
    /// admitted by the batch cap alone.
    ///
    /// ```json
    /// "diffusion": {"stepFixedMs": 4, "stepPerRowPixelMs": 0.0011, "controlNetFixedMs": 1, "controlNetPerPixelMs": 0.0004,
    ///               "vaeDecodeFixedMs": 2, "vaeDecodePerPixelMs": 0.002, "textEncodeMs": 3, "loraLoadMs": 20, "loraBindMs": 4,
    ///               "loraMergeMs": 5, "unmergedLoRAFixedMs": 2, "unmergedLoRAPerPixelMs": 0.0001,
    ///               "maxBatchSize": 8, "loraCacheEntries": 16, "referenceWidth": 64, "referenceHeight": 64}
    /// ```
    public struct Diffusion: Sendable, Hashable, Codable {
        public var stepFixedMs: Double
        public var stepPerRowPixelMs: Double
        public var stepPerRowPixelSquaredMs = 0.0
        public var controlNetFixedMs: Double
        public var controlNetPerPixelMs: Double
        public var controlNetPerPixelSquaredMs = 0.0
        public var vaeDecodeFixedMs: Double
        public var vaeDecodePerPixelMs: Double
        public var textEncodeMs: Double
        public var loraLoadMs: Double
        public var loraBindMs = 0.0
        public var loraMergeMs: Double
        public var unmergedLoRAFixedMs = 0.0
        public var unmergedLoRAPerPixelMs = 0.0
        public var unmergedLoRAPerPixelSquaredMs = 0.0
        public var maxBatchSize: Int
        public var loraCacheEntries: Int
        /// The model's default size.
        public var referenceWidth: Int
        public var referenceHeight: Int
        /// What the profiler measured; absent in hand-written sections.
        public var measurements: Measurements?
        public var memory: Memory?

        /// An image's activation memory as profiled (`ActivationSpan`): the bytes it keeps between
        /// steps, a UNet call's peak per row per output pixel, a VAE decode's peak per pixel (each
        /// the largest over the profiled sizes and batches).
        public struct Memory: Sendable, Hashable, Codable {
            public var keptBytes: Int
            public var stepBytesPerRowPixel: Double
            public var vaeBytesPerPixel: Double

            public init(keptBytes: Int, stepBytesPerRowPixel: Double, vaeBytesPerPixel: Double) {
                self.keptBytes = keptBytes
                self.stepBytesPerRowPixel = stepBytesPerRowPixel
                self.vaeBytesPerPixel = vaeBytesPerPixel
            }
        }

        public init(stepFixedMs: Double, stepPerRowPixelMs: Double, controlNetFixedMs: Double, controlNetPerPixelMs: Double,
                    vaeDecodeFixedMs: Double, vaeDecodePerPixelMs: Double, textEncodeMs: Double, loraLoadMs: Double, loraMergeMs: Double,
                    maxBatchSize: Int, loraCacheEntries: Int, referenceWidth: Int, referenceHeight: Int, measurements: Measurements? = nil) {
            self.stepFixedMs = stepFixedMs
            self.stepPerRowPixelMs = stepPerRowPixelMs
            self.controlNetFixedMs = controlNetFixedMs
            self.controlNetPerPixelMs = controlNetPerPixelMs
            self.vaeDecodeFixedMs = vaeDecodeFixedMs
            self.vaeDecodePerPixelMs = vaeDecodePerPixelMs
            self.textEncodeMs = textEncodeMs
            self.loraLoadMs = loraLoadMs
            self.loraMergeMs = loraMergeMs
            self.maxBatchSize = maxBatchSize
            self.loraCacheEntries = loraCacheEntries
            self.referenceWidth = referenceWidth
            self.referenceHeight = referenceHeight
            self.measurements = measurements
        }

        enum CodingKeys: String, CodingKey {
            case stepFixedMs, stepPerRowPixelMs, stepPerRowPixelSquaredMs, controlNetFixedMs, controlNetPerPixelMs, controlNetPerPixelSquaredMs,
                 vaeDecodeFixedMs, vaeDecodePerPixelMs, textEncodeMs, loraLoadMs, loraBindMs, loraMergeMs, unmergedLoRAFixedMs,
                 unmergedLoRAPerPixelMs, unmergedLoRAPerPixelSquaredMs, maxBatchSize, loraCacheEntries, referenceWidth, referenceHeight, measurements,
                 memory
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(stepFixedMs: try c.decode(Double.self, forKey: .stepFixedMs), stepPerRowPixelMs: try c.decode(Double.self, forKey: .stepPerRowPixelMs),
                      controlNetFixedMs: try c.decode(Double.self, forKey: .controlNetFixedMs),
                      controlNetPerPixelMs: try c.decode(Double.self, forKey: .controlNetPerPixelMs),
                      vaeDecodeFixedMs: try c.decode(Double.self, forKey: .vaeDecodeFixedMs),
                      vaeDecodePerPixelMs: try c.decode(Double.self, forKey: .vaeDecodePerPixelMs),
                      textEncodeMs: try c.decode(Double.self, forKey: .textEncodeMs), loraLoadMs: try c.decode(Double.self, forKey: .loraLoadMs),
                      loraMergeMs: try c.decode(Double.self, forKey: .loraMergeMs), maxBatchSize: try c.decode(Int.self, forKey: .maxBatchSize),
                      loraCacheEntries: try c.decode(Int.self, forKey: .loraCacheEntries), referenceWidth: try c.decode(Int.self, forKey: .referenceWidth),
                      referenceHeight: try c.decode(Int.self, forKey: .referenceHeight),
                      measurements: try c.decodeIfPresent(Measurements.self, forKey: .measurements))
            stepPerRowPixelSquaredMs = try c.decodeIfPresent(Double.self, forKey: .stepPerRowPixelSquaredMs) ?? 0
            controlNetPerPixelSquaredMs = try c.decodeIfPresent(Double.self, forKey: .controlNetPerPixelSquaredMs) ?? 0
            unmergedLoRAPerPixelSquaredMs = try c.decodeIfPresent(Double.self, forKey: .unmergedLoRAPerPixelSquaredMs) ?? 0
            loraBindMs = try c.decodeIfPresent(Double.self, forKey: .loraBindMs) ?? 0
            unmergedLoRAFixedMs = try c.decodeIfPresent(Double.self, forKey: .unmergedLoRAFixedMs) ?? 0
            unmergedLoRAPerPixelMs = try c.decodeIfPresent(Double.self, forKey: .unmergedLoRAPerPixelMs) ?? 0
            memory = try c.decodeIfPresent(Memory.self, forKey: .memory)
        }

        /// Medians of the profiled points, milliseconds.
        public struct Measurements: Sendable, Hashable, Codable {
            /// One UNet call over `images` guided images (two rows each) of `width`×`height`.
            public struct Step: Sendable, Hashable, Codable {
                public var images: Int
                public var rows: Int
                public var width: Int
                public var height: Int
                public var ms: Double

                public init(images: Int, rows: Int, width: Int, height: Int, ms: Double) {
                    self.images = images
                    self.rows = rows
                    self.width = width
                    self.height = height
                    self.ms = ms
                }
            }

            /// One image of `width`×`height`: its VAE decode, one ControlNet call of one row, or one
            /// unmerged LoRA's extra cost on one row.
            public struct Sized: Sendable, Hashable, Codable {
                public var width: Int
                public var height: Int
                public var ms: Double

                public init(width: Int, height: Int, ms: Double) {
                    self.width = width
                    self.height = height
                    self.ms = ms
                }
            }

            public var steps: [Step]
            public var vaeDecode: [Sized]
            public var controlNet: [Sized]
            public var textEncodeMs: Double
            public var loraLoadMs: Double
            public var loraMergeMs: Double
            public var loraBindMs: Double
            public var unmergedLoRA: [Sized]

            public init(steps: [Step], vaeDecode: [Sized], controlNet: [Sized], textEncodeMs: Double, loraLoadMs: Double, loraMergeMs: Double,
                        loraBindMs: Double = 0, unmergedLoRA: [Sized] = []) {
                self.steps = steps
                self.vaeDecode = vaeDecode
                self.controlNet = controlNet
                self.textEncodeMs = textEncodeMs
                self.loraLoadMs = loraLoadMs
                self.loraMergeMs = loraMergeMs
                self.loraBindMs = loraBindMs
                self.unmergedLoRA = unmergedLoRA
            }

            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                self.init(steps: try c.decode([Step].self, forKey: .steps), vaeDecode: try c.decode([Sized].self, forKey: .vaeDecode),
                          controlNet: try c.decode([Sized].self, forKey: .controlNet), textEncodeMs: try c.decode(Double.self, forKey: .textEncodeMs),
                          loraLoadMs: try c.decode(Double.self, forKey: .loraLoadMs), loraMergeMs: try c.decode(Double.self, forKey: .loraMergeMs),
                          loraBindMs: try c.decodeIfPresent(Double.self, forKey: .loraBindMs) ?? 0,
                          unmergedLoRA: try c.decodeIfPresent([Sized].self, forKey: .unmergedLoRA) ?? [])
            }

            enum CodingKeys: String, CodingKey {
                case steps, vaeDecode, controlNet, textEncodeMs, loraLoadMs, loraMergeMs, loraBindMs, unmergedLoRA
            }
        }

        /// Seconds of one UNet call over rows of `rowPixels` (each row's width · height); 0 without rows.
        public func stepSeconds(rowPixels: [Int]) -> Double {
            guard !rowPixels.isEmpty else { return 0 }
            return rowPixels.reduce(stepFixedMs) { ms, p in
                let pixels = Double(p)
                return ms + stepPerRowPixelMs * pixels + stepPerRowPixelSquaredMs * pixels * pixels
            } / 1000
        }

        /// Seconds of one in-process ControlNet call of one row of a `width`×`height` image.
        public func controlNetSeconds(width: Int, height: Int) -> Double {
            let p = Double(width * height)
            return (controlNetFixedMs + controlNetPerPixelMs * p + controlNetPerPixelSquaredMs * p * p) / 1000
        }

        /// Seconds one LoRA applied unmerged adds to one row of a `width`×`height` image.
        public func unmergedLoRASeconds(width: Int, height: Int) -> Double {
            let p = Double(width * height)
            return (unmergedLoRAFixedMs + unmergedLoRAPerPixelMs * p + unmergedLoRAPerPixelSquaredMs * p * p) / 1000
        }

        public func vaeDecodeSeconds(width: Int, height: Int) -> Double {
            (vaeDecodeFixedMs + vaeDecodePerPixelMs * Double(width * height)) / 1000
        }

        /// The activation memory of a `width`×`height` image of `rows` UNet rows; nothing without `memory`.
        public func memoryNeed(width: Int, height: Int, rows: Int) -> ImageMemoryNeed {
            guard let memory else { return ImageMemoryNeed() }
            let pixels = Double(width * height)
            return ImageMemoryNeed(kept: memory.keptBytes, step: Int((memory.stepBytesPerRowPixel * pixels * Double(rows)).rounded(.up)),
                                   vae: Int((memory.vaeBytesPerPixel * pixels).rounded(.up)))
        }

        func validate() throws {
            let all = [stepFixedMs, stepPerRowPixelMs, stepPerRowPixelSquaredMs, controlNetFixedMs, controlNetPerPixelMs, controlNetPerPixelSquaredMs,
                       vaeDecodeFixedMs, vaeDecodePerPixelMs, textEncodeMs, loraLoadMs, loraBindMs, loraMergeMs, unmergedLoRAFixedMs,
                       unmergedLoRAPerPixelMs, unmergedLoRAPerPixelSquaredMs]
            guard all.allSatisfy({ $0 >= 0 && $0.isFinite }), stepFixedMs + stepPerRowPixelMs + stepPerRowPixelSquaredMs > 0 else {
                throw SimulationError.invalidConfig("diffusion costs must be finite and non-negative, with a positive UNet step")
            }
            if let memory {
                guard memory.keptBytes >= 0, [memory.stepBytesPerRowPixel, memory.vaeBytesPerPixel].allSatisfy({ $0 >= 0 && $0.isFinite }) else {
                    throw SimulationError.invalidConfig("diffusion memory must be finite and non-negative")
                }
            }
            guard maxBatchSize >= 1, loraCacheEntries >= 0, referenceWidth >= 1, referenceHeight >= 1 else {
                throw SimulationError.invalidConfig("diffusion maxBatchSize and the reference size must be positive, loraCacheEntries non-negative")
            }
        }
    }
}
