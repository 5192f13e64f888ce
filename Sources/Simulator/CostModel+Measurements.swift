extension CostModel {
    /// What a profiler measured on the real engine, kept next to the fitted coefficients so the fit
    /// can be checked or redone. Times are medians over repeated runs, in milliseconds.
    public struct Measurements: Sendable, Hashable, Codable {
        /// One forward pass over `sequences` whole prompts: `tokens` in all, `squaredLengths` = Σ len².
        public struct Prefill: Sendable, Hashable, Codable {
            public var sequences: Int
            public var tokens: Int
            public var squaredLengths: Double
            public var ms: Double

            public init(sequences: Int, tokens: Int, squaredLengths: Double, ms: Double) {
                self.sequences = sequences
                self.tokens = tokens
                self.squaredLengths = squaredLengths
                self.ms = ms
            }
        }

        /// One decode step of `batch` sequences holding `contextTokens` tokens of context in all.
        public struct Decode: Sendable, Hashable, Codable {
            public var batch: Int
            public var contextTokens: Int
            public var ms: Double

            public init(batch: Int, contextTokens: Int, ms: Double) {
                self.batch = batch
                self.contextTokens = contextTokens
                self.ms = ms
            }
        }

        /// One step mixing both: `batch` decoding sequences with `contextTokens` of context in all, and
        /// prompt chunks of `prefillTokens` tokens with `squaredLengths` = Σ chunk·(tokens before it + chunk).
        public struct Mixed: Sendable, Hashable, Codable {
            public var batch: Int
            public var contextTokens: Int
            public var prefillTokens: Int
            public var squaredLengths: Double
            public var ms: Double

            public init(batch: Int, contextTokens: Int, prefillTokens: Int, squaredLengths: Double, ms: Double) {
                self.batch = batch
                self.contextTokens = contextTokens
                self.prefillTokens = prefillTokens
                self.squaredLengths = squaredLengths
                self.ms = ms
            }
        }

        /// Preprocessing and encoding `images` images of `width`×`height` pixels one after another, as
        /// the engine's image pipeline does, into `tokens` image tokens in all.
        public struct Encode: Sendable, Hashable, Codable {
            public var images: Int
            public var width: Int
            public var height: Int
            public var tokens: Int
            public var ms: Double

            public init(images: Int, width: Int, height: Int, tokens: Int, ms: Double) {
                self.images = images
                self.width = width
                self.height = height
                self.tokens = tokens
                self.ms = ms
            }
        }

        /// One copy of `bytes` bytes.
        public struct Transfer: Sendable, Hashable, Codable {
            public var bytes: Int
            public var ms: Double

            public init(bytes: Int, ms: Double) {
                self.bytes = bytes
                self.ms = ms
            }
        }

        public var prefill: [Prefill]
        public var decode: [Decode]
        /// Absent in files profiled before mixed steps were measured.
        public var mixed: [Mixed]?
        /// Absent for text-only models.
        public var encode: [Encode]?
        public var transfer: [Transfer]
        /// Seconds to load the model from disk, the measured start-up time.
        public var loadSeconds: Double?

        public init(prefill: [Prefill], decode: [Decode], mixed: [Mixed]? = nil, encode: [Encode]? = nil, transfer: [Transfer],
                    loadSeconds: Double? = nil) {
            self.prefill = prefill
            self.decode = decode
            self.mixed = mixed
            self.encode = encode
            self.transfer = transfer
            self.loadSeconds = loadSeconds
        }
    }
}
