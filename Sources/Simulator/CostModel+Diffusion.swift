extension CostModel {
    /// An image worker's costs (a diffusion model on this hardware), in milliseconds, priced per
    /// output pixel so one profile covers every size:
    /// - one step-batched UNet call: `stepFixedMs + stepPerRowPixelMs · Σ rows · width · height`
    ///   (two rows per guided image);
    /// - one ControlNet residual call of one row run in-process: `controlNetFixedMs + controlNetPerPixelMs · width · height`;
    /// - VAE decode of one image: `vaeDecodeFixedMs + vaeDecodePerPixelMs · width · height`;
    /// - text encoding of one image's prompts when it joins: `textEncodeMs`;
    /// - a LoRA read from disk (file read, parse, bind): `loraLoadMs`; merging one LoRA into the
    ///   UNet's weights and restoring them: `loraMergeMs`.
    ///
    /// `maxBatchSize` is the worker's step-batch cap and `loraCacheEntries` the LoRAs its adapter
    /// cache keeps (least recently used out first).
    ///
    /// ```json
    /// "diffusion": {"stepFixedMs": 4, "stepPerRowPixelMs": 0.0011, "controlNetFixedMs": 1, "controlNetPerPixelMs": 0.0004,
    ///               "vaeDecodeFixedMs": 2, "vaeDecodePerPixelMs": 0.002, "textEncodeMs": 3, "loraLoadMs": 20, "loraMergeMs": 5,
    ///               "maxBatchSize": 8, "loraCacheEntries": 16, "referenceWidth": 64, "referenceHeight": 64}
    /// ```
    public struct Diffusion: Sendable, Hashable, Codable {
        public var stepFixedMs: Double
        public var stepPerRowPixelMs: Double
        public var controlNetFixedMs: Double
        public var controlNetPerPixelMs: Double
        public var vaeDecodeFixedMs: Double
        public var vaeDecodePerPixelMs: Double
        public var textEncodeMs: Double
        public var loraLoadMs: Double
        public var loraMergeMs: Double
        public var maxBatchSize: Int
        public var loraCacheEntries: Int
        /// The model's default size.
        public var referenceWidth: Int
        public var referenceHeight: Int
        /// What the profiler measured; absent in hand-written sections.
        public var measurements: Measurements?

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

            /// One image of `width`×`height`: its VAE decode, or one ControlNet call of one row.
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

            public init(steps: [Step], vaeDecode: [Sized], controlNet: [Sized], textEncodeMs: Double, loraLoadMs: Double, loraMergeMs: Double) {
                self.steps = steps
                self.vaeDecode = vaeDecode
                self.controlNet = controlNet
                self.textEncodeMs = textEncodeMs
                self.loraLoadMs = loraLoadMs
                self.loraMergeMs = loraMergeMs
            }
        }

        /// Seconds of one UNet call over `rowPixels` = Σ rows · width · height.
        public func stepSeconds(rowPixels: Double) -> Double {
            rowPixels > 0 ? (stepFixedMs + stepPerRowPixelMs * rowPixels) / 1000 : 0
        }

        /// Seconds of one in-process ControlNet call of one row of a `width`×`height` image.
        public func controlNetSeconds(width: Int, height: Int) -> Double {
            (controlNetFixedMs + controlNetPerPixelMs * Double(width * height)) / 1000
        }

        public func vaeDecodeSeconds(width: Int, height: Int) -> Double {
            (vaeDecodeFixedMs + vaeDecodePerPixelMs * Double(width * height)) / 1000
        }

        func validate() throws {
            let all = [stepFixedMs, stepPerRowPixelMs, controlNetFixedMs, controlNetPerPixelMs, vaeDecodeFixedMs, vaeDecodePerPixelMs,
                       textEncodeMs, loraLoadMs, loraMergeMs]
            guard all.allSatisfy({ $0 >= 0 && $0.isFinite }), stepFixedMs + stepPerRowPixelMs > 0 else {
                throw SimulationError.invalidConfig("diffusion costs must be finite and non-negative, with a positive UNet step")
            }
            guard maxBatchSize >= 1, loraCacheEntries >= 0, referenceWidth >= 1, referenceHeight >= 1 else {
                throw SimulationError.invalidConfig("diffusion maxBatchSize and the reference size must be positive, loraCacheEntries non-negative")
            }
        }
    }
}
