/// A metadata value of a GGUF file (all thirteen GGUF value types; integers and floats widened).
public enum GGUFValue: Sendable, Equatable {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .uint(let v): v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v): Int(v)
        default: nil
        }
    }

    public var double: Double? {
        switch self {
        case .float(let v): v
        case .uint, .int: int.map(Double.init)
        default: nil
        }
    }

    public var bool: Bool? { if case .bool(let v) = self { v } else { nil } }
    public var string: String? { if case .string(let v) = self { v } else { nil } }
    public var array: [GGUFValue]? { if case .array(let v) = self { v } else { nil } }
}

/// One tensor of a GGUF file. `shape` is in row-major order (outermost first, as safetensors and
/// PyTorch write it), i.e. GGUF's `ne` reversed.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// The ggml type number (0 F32, 1 F16, 8 Q8_0, 12 Q4_K, 30 BF16, …).
    public let typeNumber: UInt32
    public let shape: [Int]
    /// Offset from the start of the aligned data section.
    public let offset: Int
    public let byteCount: Int

    /// The storage type, or nil when Tessera cannot compute with it.
    public var dtype: DType? { GGUFFile.dtypes[typeNumber] }
    public var typeName: String { GGUFFile.typeNames[typeNumber] ?? "type \(typeNumber)" }
}

/// Why a GGUF file cannot be used. Every case names the file.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case malformed(path: String, detail: String)
    case unsupportedVersion(path: String, version: UInt32)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read GGUF file \(path): \(reason)"
        case let .malformed(path, detail): "malformed GGUF file \(path): \(detail)"
        case let .unsupportedVersion(path, version): "GGUF file \(path) has version \(version) (supported: 2 and 3)"
        }
    }
}

/// A memory-mapped GGUF file (llama.cpp's model format, versions 2 and 3): metadata and tensor
/// table are parsed and checked against the file size on open; tensor data is never copied.
///
/// ```swift
/// let file = try GGUFFile(path: "SmolLM2-135M-Instruct.Q4_1.gguf")
/// print(file.metadata["general.architecture"]?.string ?? "?")
/// let w = try file.matrix("blk.0.attn_q.weight")     // a view of the mapping, quantized blocks as stored
/// ```
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    public let tensors: [String: GGUFTensorInfo]
    /// Tensor names in file order.
    public let tensorNames: [String]
    public let alignment: Int
    private let mapping: MemoryMappedFile
    private let dataStart: Int

    /// ggml type numbers Tessera computes with.
    static let dtypes: [UInt32: DType] = [0: .f32, 1: .f16, 30: .bf16, 8: .q8_0, 2: .q4_0, 3: .q4_1, 12: .q4_K, 13: .q5_K, 14: .q6_K]
    /// Block size and bytes per block of every ggml type, so files with other types still parse.
    static let layouts: [UInt32: (elements: Int, bytes: Int)] = [
        0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
        10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
        16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
        23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
        34: (256, 54), 35: (256, 66), 39: (32, 17),
    ]
    static let typeNames: [UInt32: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K",
        12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S",
        20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
        29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
    ]

    public init(path: String) throws(GGUFError) {
        self.path = path
        do { mapping = try MemoryMappedFile(path: path) } catch {
            switch error {
            case let .unreadable(_, reason): throw .unreadable(path: path, reason: reason)
            default: throw .unreadable(path: path, reason: "the file is empty")
            }
        }
        var reader = Reader(bytes: mapping.bytes, size: mapping.size, path: path)
        guard try reader.u32() == 0x4655_4747 else { throw .malformed(path: path, detail: "no GGUF magic at the start (not a GGUF file)") }
        version = try reader.u32()
        guard version == 2 || version == 3 else { throw .unsupportedVersion(path: path, version: version) }
        let tensorCount = try reader.count("tensor count")
        let metadataCount = try reader.count("metadata count")
        var metadata: [String: GGUFValue] = [:]
        for _ in 0 ..< metadataCount {
            let key = try reader.string()
            metadata[key] = try reader.value(type: try reader.u32(), depth: 0)
        }
        self.metadata = metadata
        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.int, a > 0, a & (a - 1) == 0 else { throw .malformed(path: path, detail: "general.alignment is not a power of two") }
            alignment = a
        }
        self.alignment = alignment
        var infos: [(name: String, type: UInt32, shape: [Int], offset: Int)] = []
        for _ in 0 ..< tensorCount {
            let name = try reader.string()
            let dims = Int(try reader.u32())
            guard dims <= 8 else { throw .malformed(path: path, detail: "tensor '\(name)' has \(dims) dimensions") }
            var ne: [Int] = []
            for _ in 0 ..< dims { ne.append(try reader.count("dimension of '\(name)'")) }
            let type = try reader.u32()
            let offset = try reader.count("offset of '\(name)'")
            infos.append((name, type, Array(ne.reversed()), offset))
        }
        dataStart = (reader.position + alignment - 1) / alignment * alignment
        let dataSize = mapping.size - dataStart
        var tensors: [String: GGUFTensorInfo] = [:]
        for info in infos {
            guard let layout = Self.layouts[info.type] else {
                throw .malformed(path: path, detail: "tensor '\(info.name)' has unknown ggml type \(info.type)")
            }
            let elements = info.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
            guard elements != Int.max, let inner = info.shape.last ?? 1 as Int?, inner % layout.elements == 0 else {
                throw .malformed(path: path, detail: "tensor '\(info.name)' of shape \(info.shape) is not whole blocks of \(layout.elements)")
            }
            let bytes = elements / layout.elements * layout.bytes
            guard info.offset % alignment == 0, info.offset <= dataSize, bytes <= dataSize - info.offset else {
                throw .malformed(path: path, detail: "tensor '\(info.name)' (\(bytes) bytes at offset \(info.offset)) lies outside the \(dataSize)-byte data section or is misaligned")
            }
            guard tensors[info.name] == nil else { throw .malformed(path: path, detail: "tensor '\(info.name)' appears twice") }
            tensors[info.name] = GGUFTensorInfo(name: info.name, typeNumber: info.type, shape: info.shape, offset: info.offset, byteCount: bytes)
        }
        self.tensors = tensors
        tensorNames = infos.map(\.name)
    }

    /// Address of a tensor's first byte inside the mapping.
    public func pointer(for info: GGUFTensorInfo) -> UnsafeRawPointer { mapping.bytes + dataStart + info.offset }

    /// Tensor `name` as a rows × cols matrix (a vector is one row); nil when absent or of a type Tessera cannot compute with.
    public func matrix(_ name: String) -> WeightMatrix? {
        guard let info = tensors[name], let dtype = info.dtype else { return nil }
        let cols = info.shape.last ?? 1
        return WeightMatrix(base: pointer(for: info), dtype: dtype, rows: info.shape.dropLast().reduce(1, *), cols: cols, owner: mapping)
    }

    /// Bounds-checked little-endian reads over the mapping.
    private struct Reader {
        let bytes: UnsafeRawPointer
        let size: Int
        let path: String
        var position = 0

        mutating func take(_ count: Int) throws(GGUFError) -> UnsafeRawPointer {
            guard count >= 0, count <= size - position else {
                throw .malformed(path: path, detail: "ends inside the header (needs \(count) bytes at offset \(position) of \(size))")
            }
            defer { position += count }
            return bytes + position
        }

        mutating func u32() throws(GGUFError) -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
        mutating func u64() throws(GGUFError) -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }

        /// A u64 that must fit the file (counts and lengths).
        mutating func count(_ what: String) throws(GGUFError) -> Int {
            let value = try u64()
            guard value <= UInt64(size) * 8 else { throw .malformed(path: path, detail: "\(what) \(value) is impossibly large") }
            return Int(value)
        }

        mutating func string() throws(GGUFError) -> String {
            let length = try count("string length")
            let start = try take(length)
            return String(decoding: UnsafeRawBufferPointer(start: start, count: length), as: UTF8.self)
        }

        mutating func value(type: UInt32, depth: Int) throws(GGUFError) -> GGUFValue {
            switch type {
            case 0: return .uint(UInt64(try take(1).load(as: UInt8.self)))
            case 1: return .int(Int64(try take(1).load(as: Int8.self)))
            case 2: return .uint(UInt64(UInt16(littleEndian: try take(2).loadUnaligned(as: UInt16.self))))
            case 3: return .int(Int64(Int16(littleEndian: try take(2).loadUnaligned(as: Int16.self))))
            case 4: return .uint(UInt64(try u32()))
            case 5: return .int(Int64(Int32(bitPattern: try u32())))
            case 6: return .float(Double(Float(bitPattern: try u32())))
            case 7: return .bool(try take(1).load(as: UInt8.self) != 0)
            case 8: return .string(try string())
            case 9:
                guard depth < 4 else { throw .malformed(path: path, detail: "arrays nested too deeply") }
                let elementType = try u32()
                let n = try count("array length")
                var values: [GGUFValue] = []
                values.reserveCapacity(n)
                for _ in 0 ..< n { values.append(try value(type: elementType, depth: depth + 1)) }
                return .array(values)
            case 10: return .uint(try u64())
            case 11: return .int(Int64(bitPattern: try u64()))
            case 12: return .float(Double(bitPattern: try u64()))
            default: throw .malformed(path: path, detail: "unknown metadata value type \(type) at offset \(position - 4)")
            }
        }
    }
}
