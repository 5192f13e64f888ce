import Foundation
import Tensor

/// The safetensors weights of a model directory (`model.safetensors` or a sharded
/// `model.safetensors.index.json`; diffusers components use the stem `diffusion_pytorch_model`),
/// or the tensors of a GGUF file under their transformers names,
/// memory-mapped, with shape-checked access by tensor name.
///
/// Shards are mapped on first use, so loading one part of a model (a vision-language model's
/// encoder) maps only the shards that hold its tensors; a shard it never reads need not exist.
final class WeightStore: @unchecked Sendable {
    /// Tensor name → file name inside the directory.
    private let locations: [String: String]
    private let directory: URL
    /// `model.safetensors`, for an unsharded checkpoint.
    private let singleFile: URL?
    private let lock = NSLock()
    /// Files mapped so far, by name. Guarded by `lock`.
    private var files: [String: SafetensorsFile]
    /// Names of the tensors read so far. Guarded by `lock`.
    private var read: Set<String> = []
    /// Set for a GGUF file: its tensors.
    private let gguf: GGUFModel?
    /// Weight matrices re-quantized at load time (`--quantize`), or nil to keep the stored type.
    let quantization: DType?

    /// The tensors of a GGUF file.
    init(gguf model: GGUFModel, quantization: DType? = nil) {
        gguf = model
        self.quantization = quantization
        directory = URL(fileURLWithPath: model.file.path)
        singleFile = directory
        files = [:]
        locations = [:]
    }

    init(directory: URL, fileStem: String = "model", quantization: DType? = nil) throws(ModelLoadingError) {
        self.directory = directory
        self.quantization = quantization
        gguf = nil
        let single = directory.appendingPathComponent("\(fileStem).safetensors")
        let index = directory.appendingPathComponent("\(fileStem).safetensors.index.json")
        let manager = FileManager.default
        if manager.fileExists(atPath: single.path) {
            let file = try Self.open(single)
            files = [single.lastPathComponent: file]
            singleFile = single
            locations = file.tensors.keys.reduce(into: [:]) { $0[$1] = single.lastPathComponent }
        } else if manager.fileExists(atPath: index.path) {
            files = [:]
            singleFile = nil
            locations = try Self.readIndex(index)
        } else {
            throw .missingWeights(directory: directory.path, fileStem: fileStem)
        }
    }

    /// Tensors read so far (what a partial load touched).
    var readTensors: Set<String> { lock.withLock { read } }

    private static func open(_ url: URL) throws(ModelLoadingError) -> SafetensorsFile {
        do { return try SafetensorsFile(url: url) } catch { throw .invalidWeightsFile(error) }
    }

    private static func readIndex(_ url: URL) throws(ModelLoadingError) -> [String: String] {
        guard let data = try? Data(contentsOf: url),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw .malformedIndex(path: url.path, detail: "not a JSON object")
        }
        guard let weightMap = json["weight_map"] as? [String: Any] else { throw .malformedIndex(path: url.path, detail: "missing 'weight_map'") }
        var map: [String: String] = [:]
        for (tensor, file) in weightMap {
            guard let name = file as? String, !name.contains("/"), !name.isEmpty else {
                throw .malformedIndex(path: url.path, detail: "entry for '\(tensor)' is not a file name in the model directory")
            }
            map[tensor] = name
        }
        return map
    }

    func contains(_ name: String) -> Bool {
        if let gguf { return GGUFModel.ggufName(name).map { gguf.file.tensors[$0] != nil } ?? false }
        return locations[name] != nil
    }

    /// A GGUF tensor by its transformers name, checked against `shape` (rows × cols, or [count] for a vector).
    private func ggufTensor(_ name: String, shape: [Int]) throws(ModelLoadingError) -> WeightMatrix? {
        guard let gguf else { return nil }
        let m = try gguf.tensor(name)
        let actual = m.rows == 1 && shape.count == 1 ? [m.cols] : [m.rows, m.cols]
        guard actual == shape else { throw .shapeMismatch(tensor: name, path: gguf.file.path, expected: shape, actual: actual) }
        lock.withLock { _ = read.insert(name) }
        return m
    }

    /// `matrix` quantized to `quantization` when one is set and the matrix is a float matrix whose rows hold whole blocks.
    private func requantized(_ matrix: WeightMatrix) -> WeightMatrix {
        guard let quantization, !matrix.dtype.isQuantized, matrix.cols % quantization.blockElements == 0 else { return matrix }
        return matrix.quantized(to: quantization)
    }

    private func locate(_ name: String) throws(ModelLoadingError) -> (SafetensorsFile, SafetensorsTensorInfo) {
        guard let fileName = locations[name] else { throw .missingTensor(name: name, path: singleFile?.path ?? directory.path) }
        let file = try file(fileName, holding: name)
        guard let info = file.tensors[name] else { throw .missingTensor(name: name, path: file.path) }
        guard info.dtype != nil else { throw .unsupportedDType(tensor: name, path: file.path, dtype: info.dtypeName) }
        lock.withLock { _ = read.insert(name) }
        return (file, info)
    }

    /// The mapped file `fileName`, mapped now if this is its first use.
    private func file(_ fileName: String, holding tensor: String) throws(ModelLoadingError) -> SafetensorsFile {
        if let file = lock.withLock({ files[fileName] }) { return file }
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { throw .missingShard(path: url.path, tensor: tensor) }
        let file = try Self.open(url)
        return lock.withLock {
            if let existing = files[fileName] { return existing }
            files[fileName] = file
            return file
        }
    }

    /// Tensor `name`, which must have shape [rows, cols].
    func matrix(_ name: String, rows: Int, cols: Int) throws(ModelLoadingError) -> WeightMatrix {
        if let m = try ggufTensor(name, shape: [rows, cols]) { return m }
        let (file, info) = try locate(name)
        guard info.shape == [rows, cols] else { throw .shapeMismatch(tensor: name, path: file.path, expected: [rows, cols], actual: info.shape) }
        do { return requantized(try file.matrix(name)) } catch { throw .invalidWeightsFile(error) }
    }

    /// Tensor `name`, which must have exactly `shape`, viewed as shape[0] × (product of the rest):
    /// a convolution kernel as the matrix of the equivalent linear layer. `rows` picks a band of
    /// rows (e.g. the q, k or v third of a fused projection) without copying.
    func flattenedMatrix(_ name: String, shape: [Int], rows: Range<Int>? = nil) throws(ModelLoadingError) -> WeightMatrix {
        let (file, info) = try locate(name)
        guard info.shape == shape, let dtype = info.dtype, let first = shape.first else {
            throw .shapeMismatch(tensor: name, path: file.path, expected: shape, actual: info.shape)
        }
        let cols = shape.dropFirst().reduce(1, *)
        let band = rows ?? 0 ..< first
        let base = file.pointer(for: info) + dtype.byteCount(band.lowerBound * cols)
        return WeightMatrix(base: base, dtype: dtype, rows: band.count, cols: cols, owner: file)
    }

    /// Tensor `name`, which must have exactly `shape` (any rank), widened to float32.
    func values(_ name: String, shape: [Int]) throws(ModelLoadingError) -> [Float] {
        if gguf != nil, shape.count <= 2, let m = try ggufTensor(name, shape: shape) { return m.toFloatArray() }
        let (file, info) = try locate(name)
        guard info.shape == shape else { throw .shapeMismatch(tensor: name, path: file.path, expected: shape, actual: info.shape) }
        do { return try file.floats(name) } catch { throw .invalidWeightsFile(error) }
    }

    /// Tensor `name`, which must have shape [count], widened to float32.
    func vector(_ name: String, count: Int) throws(ModelLoadingError) -> [Float] {
        if let m = try ggufTensor(name, shape: [count]) { return m.toFloatArray() }
        let (file, info) = try locate(name)
        guard info.shape == [count] else { throw .shapeMismatch(tensor: name, path: file.path, expected: [count], actual: info.shape) }
        do { return try file.floats(name) } catch { throw .invalidWeightsFile(error) }
    }
}
