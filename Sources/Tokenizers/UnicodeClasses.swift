/// The Unicode character classes used by the pre-tokenizer patterns, with the
/// semantics of the Rust `regex` crate: `\p{L}`, `\p{N}`, `\s` (White_Space) and `\w`.
enum UnicodeClasses {
    private static let letterBit: UInt8 = 1
    private static let numberBit: UInt8 = 2
    private static let whitespaceBit: UInt8 = 4
    private static let wordBit: UInt8 = 8

    /// Class bits for ASCII, so the common case skips the property tables.
    private static let asciiTable: [UInt8] = (0..<128).map { value in
        let scalar = Unicode.Scalar(UInt8(value))
        var bits: UInt8 = 0
        if ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) { bits |= letterBit | wordBit }
        if ("0"..."9").contains(scalar) { bits |= numberBit | wordBit }
        if scalar == "_" { bits |= wordBit }
        if (0x09...0x0D).contains(value) || value == 0x20 { bits |= whitespaceBit }
        return bits
    }

    /// `\p{L}`: general categories Lu, Ll, Lt, Lm, Lo.
    @inline(__always)
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 128 { return asciiTable[Int(scalar.value)] & letterBit != 0 }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `\p{N}` (and Rust's `char::is_numeric`): Nd, Nl, No.
    @inline(__always)
    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 128 { return asciiTable[Int(scalar.value)] & numberBit != 0 }
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// `\s` (and Rust's `char::is_whitespace`): the White_Space property.
    @inline(__always)
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 128 { return asciiTable[Int(scalar.value)] & whitespaceBit != 0 }
        return scalar.properties.isWhitespace
    }

    /// `\w`: Alphabetic, marks, decimal numbers, connector punctuation and Join_Control.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 128 { return asciiTable[Int(scalar.value)] & wordBit != 0 }
        let properties = scalar.properties
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}
