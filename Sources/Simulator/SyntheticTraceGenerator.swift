import Cluster
import CoreUtilities
import Foundation

/// Synthetic multimodal workloads shaped like the published ones: a diurnal rate cycle with
/// bursts (Azure LMM trace, ModServe §3), 0–16 images per request with a heavy tail, ShareGPT-4o-like
/// prompt and image-size mixes, and image reuse drawn from a Zipf-popular pool.
///
/// Arrivals are a non-homogeneous Poisson process sampled by thinning, so the same seed gives the
/// same trace.
///
/// ```swift
/// let trace = SyntheticTraceGenerator(options).generate()
/// ```
public struct SyntheticTraceGenerator: Sendable {
    /// Knobs of the generator; the JSON keys of a config's `trace.synthetic` block.
    public struct Options: Sendable, Hashable, Codable {
        public var durationSeconds: Double = 600
        /// Mean arrival rate, requests/s, before diurnal and burst modulation.
        public var ratePerSecond: Double = 2
        /// Relative amplitude of the sinusoidal cycle, 0...1.
        public var diurnalAmplitude: Double = 0
        public var diurnalPeriodSeconds: Double = 86400
        public var burstsPerHour: Double = 0
        public var burstMultiplier: Double = 3
        public var burstSeconds: Double = 60
        /// Fraction of requests that carry at least one image.
        public var multimodalFraction: Double = 0.6
        /// Images of a multimodal request: `min` plus a geometric tail with mean `meanExtra`, capped at `max`.
        public var minImages: Int = 1
        public var maxImages: Int = 16
        public var meanExtraImages: Double = 0.6
        /// Draw the image count uniformly from `minImages...maxImages` instead (EPD's synthetic workload).
        public var uniformImageCount: Bool = false
        /// Text context beyond the instruction: log-normal median and spread, tokens.
        public var contextMedianTokens: Double = 60
        public var contextSigma: Double = 1.0
        /// When set, every request has exactly this many text tokens.
        public var fixedTextTokens: Int?
        /// When set, every request generates exactly this many tokens.
        public var fixedOutputTokens: Int?
        /// Probability an image repeats a popular earlier one.
        public var imageReuseProbability: Double = 0.1
        public var imagePoolSize: Int = 1000
        /// Image sizes to draw from; default ``shareGPT4oImageSizes``.
        public var imageSizes: [ImageSize]?
        /// Fraction of requests in the `batch` SLO class (the rest are `interactive`).
        public var batchClassFraction: Double = 0
        /// Images to generate among the requests, with their add-on mix; nil: none.
        public var imageGeneration: ImageGenerationMix?
        /// Shared prefixes the language-model requests' texts start with; nil: none.
        public var sharedPrefixes: SharedPrefixMix?
        public var seed: UInt64 = 1

        public init() {}

        enum CodingKeys: String, CodingKey {
            case durationSeconds, ratePerSecond, diurnalAmplitude, diurnalPeriodSeconds, burstsPerHour, burstMultiplier, burstSeconds, multimodalFraction, minImages, maxImages, meanExtraImages, uniformImageCount, contextMedianTokens, contextSigma, fixedTextTokens, fixedOutputTokens, imageReuseProbability, imagePoolSize, imageSizes, batchClassFraction, imageGeneration, sharedPrefixes, seed
        }

        /// Absent keys keep their defaults.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            durationSeconds = try c.decodeIfPresent(Double.self, forKey: .durationSeconds) ?? durationSeconds
            ratePerSecond = try c.decodeIfPresent(Double.self, forKey: .ratePerSecond) ?? ratePerSecond
            diurnalAmplitude = try c.decodeIfPresent(Double.self, forKey: .diurnalAmplitude) ?? diurnalAmplitude
            diurnalPeriodSeconds = try c.decodeIfPresent(Double.self, forKey: .diurnalPeriodSeconds) ?? diurnalPeriodSeconds
            burstsPerHour = try c.decodeIfPresent(Double.self, forKey: .burstsPerHour) ?? burstsPerHour
            burstMultiplier = try c.decodeIfPresent(Double.self, forKey: .burstMultiplier) ?? burstMultiplier
            burstSeconds = try c.decodeIfPresent(Double.self, forKey: .burstSeconds) ?? burstSeconds
            multimodalFraction = try c.decodeIfPresent(Double.self, forKey: .multimodalFraction) ?? multimodalFraction
            minImages = try c.decodeIfPresent(Int.self, forKey: .minImages) ?? minImages
            maxImages = try c.decodeIfPresent(Int.self, forKey: .maxImages) ?? maxImages
            meanExtraImages = try c.decodeIfPresent(Double.self, forKey: .meanExtraImages) ?? meanExtraImages
            uniformImageCount = try c.decodeIfPresent(Bool.self, forKey: .uniformImageCount) ?? uniformImageCount
            contextMedianTokens = try c.decodeIfPresent(Double.self, forKey: .contextMedianTokens) ?? contextMedianTokens
            contextSigma = try c.decodeIfPresent(Double.self, forKey: .contextSigma) ?? contextSigma
            fixedTextTokens = try c.decodeIfPresent(Int.self, forKey: .fixedTextTokens)
            fixedOutputTokens = try c.decodeIfPresent(Int.self, forKey: .fixedOutputTokens)
            imageReuseProbability = try c.decodeIfPresent(Double.self, forKey: .imageReuseProbability) ?? imageReuseProbability
            imagePoolSize = try c.decodeIfPresent(Int.self, forKey: .imagePoolSize) ?? imagePoolSize
            imageSizes = try c.decodeIfPresent([ImageSize].self, forKey: .imageSizes)
            batchClassFraction = try c.decodeIfPresent(Double.self, forKey: .batchClassFraction) ?? batchClassFraction
            imageGeneration = try c.decodeIfPresent(ImageGenerationMix.self, forKey: .imageGeneration)
            sharedPrefixes = try c.decodeIfPresent(SharedPrefixMix.self, forKey: .sharedPrefixes)
            seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        }
    }

    /// Images to generate with the Katz/SwiftDiffusion trace's add-on mix (arXiv 2407.02031 §2: >98%
    /// of requests use a ControlNet, ~70% two or more, >95% a LoRA, a handful of ControlNets serve
    /// almost every call while LoRAs have a long tail): a request is an image with probability
    /// `fraction`; it takes 1…`maxLoRAs` LoRAs with probability `loraProbability`, and
    /// 1…`maxControlNets` ControlNets with probability `controlNetProbability`, each named
    /// `lora-K` / `controlnet-K` with K drawn Zipf-popular (exponent `zipfExponent`) from its pool.
    public struct ImageGenerationMix: Sendable, Hashable, Codable {
        public var fraction: Double = 1
        public var steps: Int = 20
        public var width: Int = 512
        public var height: Int = 512
        public var guidanceScale: Double = 7.5
        public var loraProbability: Double = 0.95
        public var maxLoRAs: Int = 2
        public var loraPool: Int = 1000
        public var controlNetProbability: Double = 0.98
        public var maxControlNets: Int = 3
        public var controlNetPool: Int = 20
        public var zipfExponent: Double = 1.1

        public init() {}

        enum CodingKeys: String, CodingKey {
            case fraction, steps, width, height, guidanceScale, loraProbability, maxLoRAs, loraPool, controlNetProbability, maxControlNets, controlNetPool, zipfExponent
        }

        /// Absent keys keep their defaults.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            fraction = try c.decodeIfPresent(Double.self, forKey: .fraction) ?? fraction
            steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? steps
            width = try c.decodeIfPresent(Int.self, forKey: .width) ?? width
            height = try c.decodeIfPresent(Int.self, forKey: .height) ?? height
            guidanceScale = try c.decodeIfPresent(Double.self, forKey: .guidanceScale) ?? guidanceScale
            loraProbability = try c.decodeIfPresent(Double.self, forKey: .loraProbability) ?? loraProbability
            maxLoRAs = try c.decodeIfPresent(Int.self, forKey: .maxLoRAs) ?? maxLoRAs
            loraPool = try c.decodeIfPresent(Int.self, forKey: .loraPool) ?? loraPool
            controlNetProbability = try c.decodeIfPresent(Double.self, forKey: .controlNetProbability) ?? controlNetProbability
            maxControlNets = try c.decodeIfPresent(Int.self, forKey: .maxControlNets) ?? maxControlNets
            controlNetPool = try c.decodeIfPresent(Int.self, forKey: .controlNetPool) ?? controlNetPool
            zipfExponent = try c.decodeIfPresent(Double.self, forKey: .zipfExponent) ?? zipfExponent
        }

        var isValid: Bool {
            (0...1).contains(fraction) && (0...1).contains(loraProbability) && (0...1).contains(controlNetProbability)
                && steps >= 1 && width >= 1 && height >= 1 && maxLoRAs >= 1 && loraPool >= 1 && maxControlNets >= 1
                && controlNetPool >= 1 && zipfExponent > 0 && guidanceScale.isFinite
        }

        /// `count` distinct names drawn Zipf-popular from `prefix-0…prefix-(pool-1)`.
        func names(_ prefix: String, count: Int, pool weights: [Double], rng: inout SplitMix64) -> [String] {
            var chosen: [Int] = []
            while chosen.count < min(count, weights.count) {
                let k = rng.weightedIndex(weights)
                if !chosen.contains(k) { chosen.append(k) }
            }
            return chosen.map { "\(prefix)-\($0)" }
        }

        func draw(_ rng: inout SplitMix64, loraWeights: [Double], controlNetWeights: [Double]) -> ImageGeneration {
            let loras = rng.uniform() < loraProbability ? names("lora", count: 1 + Int(rng.next() % UInt64(maxLoRAs)), pool: loraWeights, rng: &rng) : []
            let controls = rng.uniform() < controlNetProbability
                ? names("controlnet", count: 1 + Int(rng.next() % UInt64(maxControlNets)), pool: controlNetWeights, rng: &rng) : []
            return ImageGeneration(steps: steps, width: width, height: height, guidanceScale: guidanceScale, loras: loras, controlNets: controls)
        }
    }

    /// Prompts that share prefixes, as SGLang's "generated-shared-prefix" benchmark builds them (a
    /// system prompt or document per group, then each request's own question): a language-model
    /// request starts, with probability `fraction`, with the `tokens`-token prefix `group-K` of a
    /// group K drawn uniformly from `groups`, followed by its own text.
    public struct SharedPrefixMix: Sendable, Hashable, Codable {
        public var groups: Int = 64
        public var tokens: Int = 2048
        public var fraction: Double = 1

        public init() {}

        enum CodingKeys: String, CodingKey { case groups, tokens, fraction }

        /// Absent keys keep their defaults.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            groups = try c.decodeIfPresent(Int.self, forKey: .groups) ?? groups
            tokens = try c.decodeIfPresent(Int.self, forKey: .tokens) ?? tokens
            fraction = try c.decodeIfPresent(Double.self, forKey: .fraction) ?? fraction
        }

        var isValid: Bool { groups >= 1 && tokens >= 1 && (0...1).contains(fraction) }
    }

    /// An image resolution and its weight in the mix.
    public struct ImageSize: Sendable, Hashable, Codable {
        public var width: Int
        public var height: Int
        public var weight: Double

        public init(width: Int, height: Int, weight: Double) {
            self.width = width
            self.height = height
            self.weight = weight
        }
    }

    /// Resolutions typical of chat uploads (screenshots, phone photos, web images), the mix we
    /// assume for ShareGPT-4o-style traffic.
    public static let shareGPT4oImageSizes: [ImageSize] = [
        ImageSize(width: 1024, height: 768, weight: 3), ImageSize(width: 800, height: 600, weight: 2),
        ImageSize(width: 1280, height: 720, weight: 2), ImageSize(width: 1920, height: 1080, weight: 1.5),
        ImageSize(width: 512, height: 512, weight: 1.5), ImageSize(width: 1536, height: 2048, weight: 1),
        ImageSize(width: 4032, height: 3024, weight: 0.5), ImageSize(width: 336, height: 336, weight: 1),
    ]

    public var options: Options

    public init(_ options: Options) {
        self.options = options
    }

    /// Arrival rate at time `t` without bursts.
    public func baseRate(at t: Double) -> Double {
        options.ratePerSecond * (1 + options.diurnalAmplitude * sin(2 * Double.pi * t / max(options.diurnalPeriodSeconds, 1)))
    }

    public func generate() throws -> Trace {
        let o = options
        guard o.durationSeconds > 0, o.ratePerSecond > 0, (0...1).contains(o.diurnalAmplitude), o.burstMultiplier >= 1,
              (0...1).contains(o.multimodalFraction), o.minImages >= 0, o.maxImages >= max(o.minImages, 1), o.imagePoolSize > 0 else {
            throw SimulationError.invalidConfig("synthetic trace: duration and rate must be positive, amplitude and fractions in 0...1, burst multiplier ≥ 1, 0 ≤ minImages ≤ maxImages")
        }
        var rng = SplitMix64(seed: o.seed)
        var burstRNG = rng.fork()
        var bursts: [Double] = []
        let burstCount = Int((o.burstsPerHour * o.durationSeconds / 3600).rounded())
        for _ in 0..<burstCount { bursts.append(burstRNG.uniform() * o.durationSeconds) }
        bursts.sort()
        let sizes = o.imageSizes ?? Self.shareGPT4oImageSizes
        let sizeWeights = sizes.map(\.weight)
        let zipf = (1...o.imagePoolSize).map { 1 / Double($0) }
        var pool: [TraceImage] = []
        let peak = o.ratePerSecond * (1 + o.diurnalAmplitude) * o.burstMultiplier
        var requests: [TraceRequest] = []
        if let mix = o.imageGeneration, !mix.isValid {
            throw SimulationError.invalidConfig("synthetic trace: imageGeneration needs fractions in 0...1, positive steps, size, pools and counts")
        }
        if let shared = o.sharedPrefixes, !shared.isValid {
            throw SimulationError.invalidConfig("synthetic trace: sharedPrefixes needs at least 1 group of at least 1 token and a fraction in 0...1")
        }
        let zipfWeights = { (n: Int) in (1...n).map { 1 / pow(Double($0), o.imageGeneration?.zipfExponent ?? 1) } }
        let loraWeights = o.imageGeneration.map { zipfWeights($0.loraPool) } ?? []
        let controlNetWeights = o.imageGeneration.map { zipfWeights($0.controlNetPool) } ?? []
        var t = 0.0
        var burstIndex = 0
        while true {
            t += rng.exponential(rate: peak)
            guard t < o.durationSeconds else { break }
            while burstIndex < bursts.count && bursts[burstIndex] + o.burstSeconds < t { burstIndex += 1 }
            let inBurst = burstIndex < bursts.count && bursts[burstIndex] <= t
            let rate = baseRate(at: t) * (inBurst ? o.burstMultiplier : 1)
            guard rng.uniform() * peak < rate else { continue }
            if let mix = o.imageGeneration, rng.uniform() < mix.fraction {
                let sloClass = rng.uniform() < o.batchClassFraction ? "batch" : nil
                requests.append(TraceRequest(arrival: t, imageGeneration: mix.draw(&rng, loraWeights: loraWeights, controlNetWeights: controlNetWeights),
                                             sloClass: sloClass))
                continue
            }

            let (prompt, sampledOutput) = SyntheticPrompts.sample(&rng)
            var images: [TraceImage] = []
            if rng.uniform() < o.multimodalFraction {
                var n = o.minImages
                if o.uniformImageCount {
                    n += Int(rng.next() % UInt64(o.maxImages - o.minImages + 1))
                } else {
                    while n < o.maxImages && rng.uniform() < o.meanExtraImages / (1 + o.meanExtraImages) { n += 1 }
                }
                for _ in 0..<max(n, 1) {
                    if !pool.isEmpty && rng.uniform() < o.imageReuseProbability {
                        images.append(pool[min(pool.count - 1, rng.weightedIndex(Array(zipf.prefix(pool.count))))])
                    } else {
                        let s = sizes[rng.weightedIndex(sizeWeights)]
                        let image = TraceImage(width: s.width, height: s.height, hash: rng.next())
                        if pool.count < o.imagePoolSize { pool.append(image) }
                        images.append(image)
                    }
                }
            }
            let instructionTokens = prompt.split(separator: " ").count * 4 / 3 + 1
            let text = o.fixedTextTokens ?? (instructionTokens + Int(rng.logNormal(median: o.contextMedianTokens, sigma: o.contextSigma)))
            let output = o.fixedOutputTokens ?? sampledOutput
            let sloClass = rng.uniform() < o.batchClassFraction ? "batch" : nil
            var request = TraceRequest(arrival: t, textTokens: min(text, 32000), images: images, outputTokens: max(1, output),
                                       sloClass: sloClass, prompt: prompt)
            if let shared = o.sharedPrefixes, rng.uniform() < shared.fraction {
                request.prefixID = "group-\(rng.next() % UInt64(shared.groups))"
                request.prefixTokens = shared.tokens
                request.textTokens = shared.tokens + request.textTokens
            }
            requests.append(request)
        }
        return Trace(requests: requests)
    }
}
