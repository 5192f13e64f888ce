import Foundation

/// One tensor entry of a safetensors header.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    /// The dtype string as written in the header (e.g. "BF16", "I64").
    public let dtypeName: String
    /// The storage type, or nil when Tessera cannot compute with it.
    public var dtype: DType? { DType(safetensorsName: dtypeName) }
    public let shape: [Int]
    /// Byte range relative to the start of the data section.
    public let byteRange: Range<Int>
}

/// A memory-mapped `.safetensors` file: the header is parsed and validated against the file
/// size on open; tensor data is never copied.
///
/// ```swift
/// let file = try SafetensorsFile(path: "model.safetensors")
/// let w = try file.matrix("lm_head.weight")          // rows × cols view of the mapping
/// ```
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let tensors: [String: SafetensorsTensorInfo]
    /// The optional `__metadata__` string map.
    public let metadata: [String: String]
    private let mapping: MemoryMappedFile
    private let dataStart: Int

    /// Byte width of each header dtype, used to check sizes even for types Tessera does not compute with.
    private static let elementSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
        "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    ]

    public convenience init(url: URL) throws(SafetensorsError) { try self.init(path: url.path) }

    public init(path: String) throws(SafetensorsError) {
        self.path = path
        mapping = try MemoryMappedFile(path: path)
        guard mapping.size >= 8 else { throw .truncated(path: path, detail: "\(mapping.size) bytes, shorter than the 8-byte header length") }
        let headerLength = Int(UInt64(littleEndian: mapping.bytes.loadUnaligned(as: UInt64.self)).clamped(toInt: ()))
        guard headerLength <= mapping.size - 8 else {
            throw .truncated(path: path, detail: "header length \(headerLength) exceeds the \(mapping.size - 8) bytes after it")
        }
        dataStart = 8 + headerLength
        let headerData = Data(bytes: mapping.bytes + 8, count: headerLength)
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: headerData)
        } catch {
            throw .malformedHeader(path: path, detail: "header is not valid JSON (\(error.localizedDescription))")
        }
        guard let entries = parsed as? [String: Any] else { throw .malformedHeader(path: path, detail: "header is not a JSON object") }
        let dataSize = mapping.size - dataStart
        var tensors: [String: SafetensorsTensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in entries {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw .malformedHeader(path: path, detail: "__metadata__ is not an object") }
                for (key, item) in map {
                    guard let text = item as? String else { throw .malformedHeader(path: path, detail: "__metadata__[\(key)] is not a string") }
                    metadata[key] = text
                }
                continue
            }
            tensors[name] = try Self.parseEntry(name: name, value: value, dataSize: dataSize, path: path)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    private static func parseEntry(name: String, value: Any, dataSize: Int, path: String) throws(SafetensorsError) -> SafetensorsTensorInfo {
        guard let entry = value as? [String: Any] else { throw .invalidTensor(path: path, tensor: name, detail: "entry is not an object") }
        guard let dtypeName = entry["dtype"] as? String else { throw .invalidTensor(path: path, tensor: name, detail: "missing dtype") }
        guard let shape = integers(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
            throw .invalidTensor(path: path, tensor: name, detail: "shape must be a list of non-negative integers")
        }
        guard let offsets = integers(entry["data_offsets"]), offsets.count == 2 else {
            throw .invalidTensor(path: path, tensor: name, detail: "data_offsets must be two integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end else {
            throw .invalidTensor(path: path, tensor: name, detail: "data_offsets [\(begin), \(end)] are not an increasing range")
        }
        guard end <= dataSize else {
            throw .truncated(path: path, detail: "tensor '\(name)' ends at byte \(end) of the data section but only \(dataSize) bytes are present")
        }
        guard let elementSize = elementSizes[dtypeName] else {
            throw .invalidTensor(path: path, tensor: name, detail: "unknown dtype \(dtypeName)")
        }
        var elements = 1
        for dimension in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw .invalidTensor(path: path, tensor: name, detail: "shape \(shape) overflows") }
            elements = product
        }
        guard elements.multipliedReportingOverflow(by: elementSize) == (end - begin, false) else {
            throw .invalidTensor(path: path, tensor: name,
                                 detail: "shape \(shape) of \(dtypeName) needs \(elements * elementSize) bytes but data_offsets span \(end - begin)")
        }
        return SafetensorsTensorInfo(name: name, dtypeName: dtypeName, shape: shape, byteRange: begin ..< end)
    }

    private static func integers(_ value: Any?) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var result: [Int] = []
        for item in list {
            // JSONSerialization yields NSNumber; reject non-integral numbers.
            guard let number = item as? NSNumber, let integer = Int(exactly: number.doubleValue), Double(integer) == number.doubleValue else { return nil }
            result.append(number.intValue)
        }
        return result
    }

    /// Address of a tensor's first byte inside the mapping.
    public func pointer(for info: SafetensorsTensorInfo) -> UnsafeRawPointer { mapping.bytes + dataStart + info.byteRange.lowerBound }

    /// Header entry of `name`.
    public func info(_ name: String) throws(SafetensorsError) -> SafetensorsTensorInfo {
        guard let info = tensors[name] else { throw .missingTensor(path: path, tensor: name) }
        return info
    }

    /// A zero-copy view of tensor `name` as a matrix: 2-D tensors as they are, 1-D as a single row.
    public func matrix(_ name: String) throws(SafetensorsError) -> WeightMatrix {
        let info = try info(name)
        guard let dtype = info.dtype else { throw .unsupportedDType(path: path, tensor: name, dtype: info.dtypeName) }
        let rows: Int
        let cols: Int
        switch info.shape.count {
        case 1: (rows, cols) = (1, info.shape[0])
        case 2: (rows, cols) = (info.shape[0], info.shape[1])
        default: throw .invalidTensor(path: path, tensor: name, detail: "expected a 1-D or 2-D tensor, found shape \(info.shape)")
        }
        return WeightMatrix(base: pointer(for: info), dtype: dtype, rows: rows, cols: cols, owner: mapping)
    }

    /// Tensor `name` widened to float32 (a copy), any shape.
    public func floats(_ name: String) throws(SafetensorsError) -> [Float] {
        let info = try info(name)
        guard let dtype = info.dtype else { throw .unsupportedDType(path: path, tensor: name, dtype: info.dtypeName) }
        let count = info.byteRange.count / dtype.blockBytes
        return WeightMatrix(base: pointer(for: info), dtype: dtype, rows: 1, cols: count, owner: mapping).toFloatArray()
    }
}

private extension UInt64 {
    /// Saturates to Int.max so absurd header lengths fail the size check instead of trapping.
    func clamped(toInt _: Void) -> Int { self > UInt64(Int.max) ? Int.max : Int(self) }
}
