import ArgumentParser
import DiffusionServing
import Foundation
import Models
import Tensor

/// `tessera bench diffusion`: one denoising step (a UNet call on a classifier-free-guidance batch)
/// and one VAE decode of a diffusers pipeline folder, on random latents and conditioning.
struct BenchDiffusionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diffusion",
        abstract: "Measure a diffusion pipeline's UNet step and VAE decode (seconds, median of --runs).",
        discussion: """
        --model is a diffusers pipeline folder (unet/ and vae/). Each UNet call runs --batch rows
        (2: one classifier-free-guidance step) on random latents of --size/8 (the VAE's scale factor),
        random 77-token encoder states and, for SDXL, random text_embeds and time_ids. One warm-up
        call of each precedes timing; its activation peak (the most `Matrix` bytes alive at once,
        ActivationSpan) is printed beside the prior the diffusion engine prices an unmeasured image
        size by (ImageMemory, --image-memory). Peak RSS is the process's high-water mark.
        --convolution both times each part with Winograd (auto) and with every convolution as
        im2col + GEMM (the path before Winograd), alternating call by call in this one process;
        --profile adds one profiled call of each part per path, with seconds per class of operation.
        """
    )

    /// Which convolution path the timed calls take.
    enum ConvolutionPath: String, ExpressibleByArgument, CaseIterable {
        case auto, im2col, both
    }

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Image side in pixels.")
    var size = 512

    @Option(help: "UNet rows per call (2 = one CFG step).")
    var batch = 2

    @Option(help: "Timed calls of each part (after one warm-up).")
    var runs = 3

    @Flag(help: "Skip the VAE decode.")
    var skipVAE = false

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: "Convolution path: auto (Winograd where faster), im2col, or both (alternating).")
    var convolution = ConvolutionPath.auto

    @Flag(help: "Also profile one call of each part per path: seconds per class of operation.")
    var profile = false

    func validate() throws {
        guard size > 0, batch >= 1, runs >= 1 else { throw ValidationError("--size, --batch and --runs must be positive") }
    }

    func run() throws {
        try modelOptions.applyComputeSettings()
        guard let model = try modelOptions.singleModel() else { throw ValidationError("--model (a diffusers pipeline folder) is required") }
        let folder = URL(fileURLWithPath: model)
        var loadStart = DispatchTime.now().uptimeNanoseconds
        let unet = try UNet2DConditionModel(directory: folder.appendingPathComponent("unet"))
        let unetLoad = seconds(since: loadStart)
        loadStart = DispatchTime.now().uptimeNanoseconds
        let vae = skipVAE ? nil : try AutoencoderKL(directory: folder.appendingPathComponent("vae"))
        let vaeLoad = seconds(since: loadStart)
        let factor = vae?.scaleFactor ?? 8
        let side = size / factor
        guard side % unet.sizeMultiple == 0 else {
            throw ValidationError("--size \(size) gives \(side)-pixel latents, not a multiple of \(unet.sizeMultiple)")
        }
        var random = Xorshift(state: 0x9E37_79B9_7F4A_7C15)
        let rows = (0 ..< batch).map { i in
            DenoiserInput(
                sample: FeatureMap(height: side, width: side, pixels: random.matrix(rows: side * side, cols: unet.inChannels)),
                timestep: Float(999 - 250 * i), encoderHiddenStates: random.matrix(rows: 77, cols: unet.crossAttentionDim),
                textEmbeds: unet.textEmbedsDim.map { random.matrix(rows: 1, cols: $0).toArray() },
                timeIds: unet.textEmbedsDim.map { _ in [Float(size), Float(size), 0, 0, Float(size), Float(size)] }
            )
        }
        let latents = vae.map { FeatureMap(height: side, width: side, pixels: random.matrix(rows: side * side, cols: $0.latentChannels)) }
        let paths: [ConvolutionPath] = convolution == .both ? [.auto, .im2col] : [convolution]
        var activations: (unet: Int, vae: Int) = (0, 0)
        let step = try time(runs, paths) { warmUp in
            let (_, span) = try ActivationSpan.measure { () throws in _ = try unet.predictNoise(rows) }
            if warmUp { activations.unet = max(activations.unet, span.peakBytes) }
        }
        let decode = try vae.map { vae in
            try time(runs, paths) { warmUp in
                let (_, span) = ActivationSpan.measure { _ = vae.decode(latents!) }
                if warmUp { activations.vae = max(activations.vae, span.peakBytes) }
            }
        } ?? [:]
        let prior = vae.map { ImageMemory.prior(unet: unet, vae: $0, height: size, width: size, rows: batch) }
        var profiles: [String: [String: [String: Double]]] = [:]
        if profile {
            for path in paths {
                profiles[path.rawValue, default: [:]]["unet"] = try profiled(path) { _ = try unet.predictNoise(rows) }
                if let vae { profiles[path.rawValue, default: [:]]["vae"] = try profiled(path) { _ = vae.decode(latents!) } }
            }
        }
        ImageKernels.winogradAllowed = true
        let rss = peakResidentMiB()
        let threads = ComputeThreads.count
        let primary = paths[0]
        if json {
            var object: [String: Any] = [
                "size": size, "batch": batch, "threads": threads, "runs": runs, "unet_step_s": median(step[primary]!),
                "unet_step_all_s": step[primary]!, "peak_rss_mib": rss, "unet_load_s": unetLoad, "convolution": primary.rawValue,
                "unet_activation_peak_mib": mib(activations.unet),
            ]
            if let prior {
                object["unet_activation_prior_mib"] = mib(prior.step)
                object["vae_activation_peak_mib"] = mib(activations.vae)
                object["vae_activation_prior_mib"] = mib(prior.vae)
            }
            if let times = decode[primary] {
                object["vae_decode_s"] = median(times)
                object["vae_decode_all_s"] = times
                object["vae_load_s"] = vaeLoad
            }
            if convolution == .both {
                object["im2col_unet_step_s"] = median(step[.im2col]!)
                object["im2col_unet_step_all_s"] = step[.im2col]!
                if let times = decode[.im2col] {
                    object["im2col_vae_decode_s"] = median(times)
                    object["im2col_vae_decode_all_s"] = times
                }
            }
            if profile { object["profile"] = profiles }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("threads: \(threads), \(size)x\(size) (latents \(side)x\(side)), UNet batch \(batch), median of \(runs)")
            for path in paths {
                print(String(format: "[\(path.rawValue)] UNet step %.3f s (load %.1f s)", median(step[path]!), unetLoad))
                if let times = decode[path] { print(String(format: "[\(path.rawValue)] VAE decode %.3f s (load %.1f s)", median(times), vaeLoad)) }
            }
            for (path, parts) in profiles.sorted(by: { $0.key < $1.key }) {
                for (part, classes) in parts.sorted(by: { $0.key > $1.key }) {
                    let line = classes.sorted { $0.value > $1.value }.map { String(format: "%@ %.3f", $0.key, $0.value) }
                    print("[\(path)] \(part) profile (s): " + line.joined(separator: ", "))
                }
            }
            print(String(format: "activation peak: UNet call %.1f MiB", mib(activations.unet))
                + (prior.map { String(format: " (prior %.1f), VAE decode %.1f MiB (prior %.1f)", mib($0.step), mib(activations.vae), mib($0.vae)) } ?? ""))
            print(String(format: "peak RSS %.0f MiB", rss))
        }
    }

    /// One call of `body` on `path` with the operation profile on: seconds per class, its total,
    /// and "other" (the total less the classes).
    private func profiled(_ path: ConvolutionPath, _ body: () throws -> Void) throws -> [String: Double] {
        ImageKernels.winogradAllowed = path != .im2col
        let start = DispatchTime.now().uptimeNanoseconds
        OpProfile.start()
        try body()
        let classes = OpProfile.stop()
        let total = seconds(since: start)
        var result = Dictionary(uniqueKeysWithValues: classes.map { ($0.key.rawValue, $0.value) })
        result["total"] = total
        result["other"] = total - classes.values.reduce(0, +)
        return result
    }

    private func mib(_ bytes: Int) -> Double { Double(bytes) / 1_048_576 }

    private func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    /// One warm-up call per path, then `runs` timed calls per path, the paths alternating call by
    /// call; `body` is told whether its call is a warm-up.
    private func time(_ runs: Int, _ paths: [ConvolutionPath], _ body: (_ warmUp: Bool) throws -> Void) throws -> [ConvolutionPath: [Double]] {
        var times: [ConvolutionPath: [Double]] = [:]
        for path in paths {
            ImageKernels.winogradAllowed = path != .im2col
            try body(true)
        }
        for _ in 0 ..< runs {
            for path in paths {
                ImageKernels.winogradAllowed = path != .im2col
                let start = DispatchTime.now().uptimeNanoseconds
                try body(false)
                times[path, default: []].append(seconds(since: start))
            }
        }
        return times
    }

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// VmHWM from /proc/self/status, in MiB (0 where unavailable).
    private func peakResidentMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              // "VmHWM:\t 9288000 kB", or no space after the tab from 10,000,000 kB on.
              let kib = Double(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") else { return 0 }
        return kib / 1024
    }
}

/// Deterministic standard-normal-ish values (sum of uniforms) for benchmark inputs.
private struct Xorshift {
    var state: UInt64

    mutating func next() -> Float {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Float(state >> 40) / Float(1 << 24)
    }

    mutating func matrix(rows: Int, cols: Int) -> Matrix {
        let m = Matrix(rows: rows, cols: cols)
        for i in 0 ..< m.count { m.data[i] = (next() + next() + next() + next() - 2) * 1.7 }
        return m
    }
}
