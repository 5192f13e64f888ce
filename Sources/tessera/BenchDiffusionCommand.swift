import ArgumentParser
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
        call of each precedes timing. Peak RSS is the process's high-water mark.
        """
    )

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
        let step = try time(runs) { _ = try unet.predictNoise(rows) }
        var decode: [Double] = []
        if let vae {
            let latents = FeatureMap(height: side, width: side, pixels: random.matrix(rows: side * side, cols: vae.latentChannels))
            decode = try time(runs) { _ = vae.decode(latents) }
        }
        let rss = peakResidentMiB()
        let threads = ComputeThreads.count
        if json {
            var object: [String: Any] = [
                "size": size, "batch": batch, "threads": threads, "runs": runs, "unet_step_s": median(step),
                "unet_step_all_s": step, "peak_rss_mib": rss, "unet_load_s": unetLoad,
            ]
            if !decode.isEmpty {
                object["vae_decode_s"] = median(decode)
                object["vae_decode_all_s"] = decode
                object["vae_load_s"] = vaeLoad
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("threads: \(threads), \(size)x\(size) (latents \(side)x\(side)), UNet batch \(batch), median of \(runs)")
            print(String(format: "UNet step %.3f s (load %.1f s)", median(step), unetLoad))
            if !decode.isEmpty { print(String(format: "VAE decode %.3f s (load %.1f s)", median(decode), vaeLoad)) }
            print(String(format: "peak RSS %.0f MiB", rss))
        }
    }

    private func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    /// One warm-up call, then `runs` timed calls.
    private func time(_ runs: Int, _ body: () throws -> Void) throws -> [Double] {
        try body()
        return try (0 ..< runs).map { _ in
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            return seconds(since: start)
        }
    }

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// VmHWM from /proc/self/status, in MiB (0 where unavailable).
    private func peakResidentMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
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
