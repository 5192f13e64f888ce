import Foundation
import Testing
@testable import Tensor

struct SafetensorsTests {
    /// Writes `header` (JSON text) and `data` in safetensors layout; `declaredLength` overrides the length prefix.
    func write(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil, raw: [UInt8]? = nil) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString).safetensors").path
        var bytes: [UInt8]
        if let raw {
            bytes = raw
        } else {
            let headerBytes = Array(header.utf8)
            bytes = withUnsafeBytes(of: (declaredLength ?? UInt64(headerBytes.count)).littleEndian, Array.init)
            bytes += headerBytes + data
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func floatBytes(_ values: [Float]) -> [UInt8] { values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }

    @Test func readsTensorsWithoutCopying() throws {
        let a: [Float] = [1, 2, 3, 4, 5, 6]
        let b: [UInt16] = [Float16(1.5).bitPattern, Float16(-2).bitPattern]
        let c: [UInt16] = [HalfConversion.bf16(3.25)]
        let data = floatBytes(a) + b.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } + c.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
        let header = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"#
            + #""b":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},"c":{"dtype":"BF16","shape":[1],"data_offsets":[28,30]},"#
            + #""ids":{"dtype":"I64","shape":[0],"data_offsets":[30,30]}}"#
        let file = try SafetensorsFile(path: try write(header: header, data: data))
        #expect(file.metadata == ["format": "pt"])
        #expect(file.tensors.count == 4)
        let matrix = try file.matrix("a")
        #expect(matrix.rows == 2 && matrix.cols == 3 && matrix.dtype == .f32)
        #expect(matrix.toFloatArray() == a)
        #expect(try file.floats("b") == [1.5, -2])
        #expect(try file.floats("c") == [3.25])
        #expect(throws: SafetensorsError.unsupportedDType(path: file.path, tensor: "ids", dtype: "I64")) { try file.matrix("ids") }
        #expect(throws: SafetensorsError.missingTensor(path: file.path, tensor: "zzz")) { try file.matrix("zzz") }
    }

    @Test func rejectsBrokenFiles() throws {
        let valid = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        func error(_ path: String) -> SafetensorsError? {
            do { _ = try SafetensorsFile(path: path); return nil } catch { return error }
        }
        let empty = try write(header: "", raw: [])
        #expect(error(empty) == .truncated(path: empty, detail: "the file is empty"))
        let short = try write(header: "", raw: [1, 2, 3])
        guard case .truncated = error(short) else { Issue.record("short file: \(String(describing: error(short)))"); return }
        let longHeader = try write(header: valid, data: floatBytes([1, 2]), declaredLength: 10_000)
        guard case let .truncated(path, detail) = error(longHeader) else { Issue.record("header length"); return }
        #expect(path == longHeader && detail.contains("10000"))
        let hugeLength = try write(header: valid, declaredLength: UInt64.max)
        guard case .truncated = error(hugeLength) else { Issue.record("huge header length"); return }
        let notJSON = try write(header: "{not json", data: [])
        guard case .malformedHeader = error(notJSON) else { Issue.record("bad JSON"); return }
        let array = try write(header: "[1,2]")
        guard case .malformedHeader = error(array) else { Issue.record("array header"); return }
        let cutData = try write(header: valid, data: floatBytes([1]))
        guard case let .truncated(_, cutDetail) = error(cutData) else { Issue.record("missing data"); return }
        #expect(cutDetail.contains("'a'"))
        let wrongSize = try write(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: floatBytes([1, 2]))
        #expect(error(wrongSize) == .invalidTensor(path: wrongSize, tensor: "a", detail: "shape [3] of F32 needs 12 bytes but data_offsets span 8"))
        let reversed = try write(header: #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, data: floatBytes([1, 2]))
        guard case .invalidTensor(_, "a", _) = error(reversed) else { Issue.record("reversed offsets"); return }
        let negative = try write(header: #"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: floatBytes([1, 2]))
        guard case .invalidTensor(_, "a", _) = error(negative) else { Issue.record("negative shape"); return }
        let noDType = try write(header: #"{"a":{"shape":[2],"data_offsets":[0,8]}}"#, data: floatBytes([1, 2]))
        #expect(error(noDType) == .invalidTensor(path: noDType, tensor: "a", detail: "missing dtype"))
        let missing = "/nonexistent/model.safetensors"
        guard case .unreadable(missing, _) = error(missing) else { Issue.record("missing file"); return }
        #expect(error(try write(header: valid, data: floatBytes([1, 2]))) == nil)
    }

    @Test func errorMessagesNameFileAndTensor() {
        let message = SafetensorsError.invalidTensor(path: "/m/model.safetensors", tensor: "lm_head.weight", detail: "bad").description
        #expect(message.contains("/m/model.safetensors") && message.contains("lm_head.weight"))
    }
}
