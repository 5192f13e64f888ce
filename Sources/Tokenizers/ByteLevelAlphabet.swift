/// GPT-2's reversible byte ↔ printable-character mapping used by byte-level BPE.
///
/// Printable Latin-1 bytes map to themselves; the other 68 bytes map, in order,
/// to U+0100 onwards, so every byte string becomes visible, space-free text.
enum ByteLevelAlphabet {
    /// `scalarForByte[b]` is the character standing for byte `b`.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next) ?? "\0"
                next += 1
            }
        }
        return table
    }()

    /// The byte a character stands for, or `nil` for characters outside the alphabet.
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let value = scalar.value
        if value < 256 {
            let byte = UInt8(value)
            return scalarForByte[Int(byte)] == scalar ? byte : nil
        }
        return value < 256 + 68 ? byteForExtendedScalar[Int(value - 256)] : nil
    }

    private static let byteForExtendedScalar: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 68)
        for byte in 0..<256 where scalarForByte[byte].value >= 256 {
            table[Int(scalarForByte[byte].value) - 256] = UInt8(byte)
        }
        return table
    }()

    /// Maps the UTF-8 bytes of `scalars` to alphabet characters.
    static func encode(_ scalars: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var result: [Unicode.Scalar] = []
        append(scalars, to: &result)
        return result
    }

    /// Appends the alphabet characters for the UTF-8 bytes of `scalars` to `result`.
    static func append(_ scalars: ArraySlice<Unicode.Scalar>, to result: inout [Unicode.Scalar]) {
        result.reserveCapacity(result.count + scalars.count)
        for scalar in scalars {
            if scalar.value < 128 {
                result.append(scalarForByte[Int(scalar.value)])
            } else {
                for byte in scalar.utf8 { result.append(scalarForByte[Int(byte)]) }
            }
        }
    }
}
