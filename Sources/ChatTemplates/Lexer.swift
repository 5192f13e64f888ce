/// Splits template source into tokens with the whitespace rules transformers renders with:
/// `trim_blocks=True`, `lstrip_blocks=True`, `keep_trailing_newline=False`, plus `-`/`+` markers.
struct Lexer {
    private let source: [Unicode.Scalar]
    private var index = 0
    private var line = 1
    private var tokens: [Token] = []
    /// Whether the previous match ended with a newline (or we are at the very start);
    /// `lstrip_blocks` only strips indentation that begins a line.
    private var lineStarting = true

    private static let operators = ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~",
                                    "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"]

    init(_ text: String) {
        // Jinja normalises every newline sequence to "\n" and drops one trailing newline.
        var normalized = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if normalized.hasSuffix("\n") { normalized.removeLast() }
        source = Array(normalized.unicodeScalars)
    }

    static func tokenize(_ text: String) throws -> [Token] {
        var lexer = Lexer(text)
        try lexer.run()
        return lexer.tokens
    }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < source.count ? source[index + offset] : nil
    }

    private func matches(_ literal: String, at position: Int) -> Bool {
        var i = position
        for scalar in literal.unicodeScalars {
            guard i < source.count, source[i] == scalar else { return false }
            i += 1
        }
        return true
    }

    private mutating func emit(_ kind: TokenKind, line: Int) {
        tokens.append(Token(kind: kind, line: line))
    }

    private mutating func advance(_ count: Int) {
        for _ in 0..<count {
            if source[index] == "\n" { line += 1 }
            index += 1
        }
    }

    private mutating func run() throws {
        while index < source.count {
            // Find the next tag opener.
            var start = index
            var opener: Unicode.Scalar?
            while start + 1 < source.count {
                if source[start] == "{", ["{", "%", "#"].contains(source[start + 1]) {
                    opener = source[start + 1]
                    break
                }
                start += 1
            }
            guard let kind = opener else {
                emitText(String(String.UnicodeScalarView(source[index...])), stripSign: nil, isBlockOrComment: false)
                advance(source.count - index)
                break
            }
            let sign: Unicode.Scalar? = start + 2 < source.count && ["-", "+"].contains(source[start + 2]) ? source[start + 2] : nil
            let text = String(String.UnicodeScalarView(source[index..<start]))
            emitText(text, stripSign: sign, isBlockOrComment: kind != "{")
            advance(start - index)
            let tagLine = line
            advance(sign == nil ? 2 : 3)
            switch kind {
            case "#":
                try skipComment(openLine: tagLine)
            case "%":
                if try lexRaw(openLine: tagLine) { continue }
                emit(.blockBegin, line: tagLine)
                try lexTag(isBlock: true, openLine: tagLine)
            default:
                emit(.variableBegin, line: tagLine)
                try lexTag(isBlock: false, openLine: tagLine)
            }
        }
        emit(.end, line: line)
    }

    /// Emits the text before a tag after applying `-` stripping or `lstrip_blocks`.
    private mutating func emitText(_ text: String, stripSign: Unicode.Scalar?, isBlockOrComment: Bool) {
        var text = text
        if stripSign == "-" {
            text = PythonString.rstrip(text)
        } else if stripSign != "+", isBlockOrComment {
            let scalars = Array(text.unicodeScalars)
            let lineStart = (scalars.lastIndex(of: "\n").map { $0 + 1 }) ?? 0
            if lineStart > 0 || lineStarting {
                let tail = scalars[lineStart...]
                if !tail.isEmpty, tail.allSatisfy({ PythonString.isWhitespace($0) }) {
                    text = String(String.UnicodeScalarView(scalars[..<lineStart]))
                }
            }
        }
        if !text.isEmpty { emit(.text(text), line: line) }
        lineStarting = false
    }

    /// Consumes the closing delimiter's trailing whitespace rules: `-` eats all whitespace,
    /// a plain block/comment end eats one newline (`trim_blocks`), `+` keeps everything.
    private mutating func consumeAfterClose(sign: Unicode.Scalar?, trimBlock: Bool) {
        lineStarting = false
        if sign == "-" {
            var consumed = false
            while let scalar = peek(), PythonString.isWhitespace(scalar) {
                lineStarting = scalar == "\n"
                advance(1)
                consumed = true
            }
            if !consumed { lineStarting = false }
        } else if sign == nil, trimBlock, peek() == "\n" {
            advance(1)
            lineStarting = true
        }
    }

    private mutating func skipComment(openLine: Int) throws {
        while index < source.count {
            if source[index] == "#", peek(1) == "}" {
                advance(2)
                consumeAfterClose(sign: nil, trimBlock: true)
                return
            }
            if ["-", "+"].contains(source[index]), peek(1) == "#", peek(2) == "}" {
                let sign = source[index]
                advance(3)
                consumeAfterClose(sign: sign, trimBlock: true)
                return
            }
            advance(1)
        }
        throw ChatTemplateError.syntax(message: "missing end of comment tag", line: openLine)
    }

    /// Handles `{% raw %}…{% endraw %}`; returns false when the block tag is something else.
    private mutating func lexRaw(openLine: Int) throws -> Bool {
        var probe = index
        while probe < source.count, PythonString.isWhitespace(source[probe]) { probe += 1 }
        guard matches("raw", at: probe) else { return false }
        probe += 3
        while probe < source.count, PythonString.isWhitespace(source[probe]) { probe += 1 }
        let closeSign: Unicode.Scalar? = probe < source.count && source[probe] == "-" ? "-" : nil
        guard matches(closeSign == nil ? "%}" : "-%}", at: probe) else { return false }
        advance(probe - index + (closeSign == nil ? 2 : 3))
        if closeSign == "-" { consumeAfterClose(sign: "-", trimBlock: false) }
        // Body runs to the first `{% endraw %}` (with optional markers and spaces).
        var search = index
        while search < source.count {
            if source[search] == "{", search + 1 < source.count, source[search + 1] == "%" {
                var cursor = search + 2
                let openSign: Unicode.Scalar? = cursor < source.count && ["-", "+"].contains(source[cursor]) ? source[cursor] : nil
                if openSign != nil { cursor += 1 }
                while cursor < source.count, PythonString.isWhitespace(source[cursor]) { cursor += 1 }
                if matches("endraw", at: cursor) {
                    cursor += 6
                    while cursor < source.count, PythonString.isWhitespace(source[cursor]) { cursor += 1 }
                    var endSign: Unicode.Scalar?
                    if cursor < source.count, ["-", "+"].contains(source[cursor]) { endSign = source[cursor]; cursor += 1 }
                    if matches("%}", at: cursor) {
                        let body = String(String.UnicodeScalarView(source[index..<search]))
                        emitText(body, stripSign: openSign, isBlockOrComment: true)
                        advance(cursor + 2 - index)
                        consumeAfterClose(sign: endSign, trimBlock: true)
                        return true
                    }
                }
            }
            search += 1
        }
        throw ChatTemplateError.syntax(message: "missing end of raw directive", line: openLine)
    }

    private mutating func lexTag(isBlock: Bool, openLine: Int) throws {
        let close = isBlock ? "%}" : "}}"
        var brackets: [Unicode.Scalar] = []
        while true {
            while let scalar = peek(), PythonString.isWhitespace(scalar) { advance(1) }
            guard let scalar = peek() else {
                throw ChatTemplateError.syntax(message: "unexpected end of template, expected '\(close)'", line: openLine)
            }
            let tokenLine = line
            // Like Jinja, the closing delimiter wins even inside brackets: `{{ {'a': 1}}}` is an error.
            if matches(close, at: index) {
                advance(2)
                emit(isBlock ? .blockEnd : .variableEnd, line: tokenLine)
                consumeAfterClose(sign: nil, trimBlock: isBlock)
                return
            }
            if scalar == "-" || (scalar == "+" && isBlock), matches(close, at: index + 1) {
                advance(3)
                emit(isBlock ? .blockEnd : .variableEnd, line: tokenLine)
                consumeAfterClose(sign: scalar, trimBlock: isBlock)
                return
            }
            if scalar == "'" || scalar == "\"" {
                emit(.string(try lexString(quote: scalar)), line: tokenLine)
            } else if scalar.properties.numericType != nil, scalar.isASCII {
                emit(try lexNumber(), line: tokenLine)
            } else if scalar == "_" || scalar.properties.isAlphabetic {
                var name = String.UnicodeScalarView()
                while let next = peek(), next == "_" || next.properties.isAlphabetic || next.properties.numericType != nil {
                    name.append(next)
                    advance(1)
                }
                emit(.name(String(name)), line: tokenLine)
            } else if let op = Self.operators.first(where: { matches($0, at: index) }) {
                switch op {
                case "(": brackets.append(")")
                case "[": brackets.append("]")
                case "{": brackets.append("}")
                case ")", "]", "}":
                    guard let expected = brackets.popLast() else {
                        throw ChatTemplateError.syntax(message: "unexpected '\(op)'", line: tokenLine)
                    }
                    guard String(expected) == op else {
                        throw ChatTemplateError.syntax(message: "unexpected '\(op)', expected '\(expected)'", line: tokenLine)
                    }
                default: break
                }
                advance(op.unicodeScalars.count)
                emit(.op(op), line: tokenLine)
            } else {
                throw ChatTemplateError.syntax(message: "unexpected character '\(scalar)'", line: tokenLine)
            }
        }
    }

    private mutating func lexNumber() throws -> TokenKind {
        let tokenLine = line
        var text = ""
        func digits(_ allowed: (Unicode.Scalar) -> Bool) {
            while let scalar = peek(), allowed(scalar) || (scalar == "_" && (peek(1).map(allowed) ?? false)) {
                if scalar != "_" { text.unicodeScalars.append(scalar) }
                advance(1)
            }
        }
        let isDigit: (Unicode.Scalar) -> Bool = { ("0"..."9").contains($0) }
        if peek() == "0", let marker = peek(1), ["b", "B", "o", "O", "x", "X"].contains(marker) {
            advance(2)
            let radix: Int
            switch marker {
            case "b", "B": radix = 2; digits { ("0"..."1").contains($0) }
            case "o", "O": radix = 8; digits { ("0"..."7").contains($0) }
            default: radix = 16; digits { $0.properties.isASCIIHexDigit }
            }
            guard let value = Int(text, radix: radix) else {
                throw ChatTemplateError.syntax(message: "invalid integer literal", line: tokenLine)
            }
            return .integer(value)
        }
        digits(isDigit)
        var isFloat = false
        if peek() == ".", let next = peek(1), isDigit(next) {
            isFloat = true
            text += "."
            advance(1)
            digits(isDigit)
        }
        if let marker = peek(), marker == "e" || marker == "E" {
            var offset = 1
            if let sign = peek(1), sign == "+" || sign == "-" { offset = 2 }
            if let next = peek(offset), isDigit(next) {
                isFloat = true
                text += "e"
                if offset == 2, let sign = peek(1) { text.unicodeScalars.append(sign) }
                advance(offset)
                digits(isDigit)
            }
        }
        if isFloat {
            guard let value = Double(text) else { throw ChatTemplateError.syntax(message: "invalid number", line: tokenLine) }
            return .float(value)
        }
        guard let value = Int(text) else {
            throw ChatTemplateError.unsupported(construct: "integer literal \(text) is out of range", line: tokenLine)
        }
        return .integer(value)
    }

    /// Reads a quoted literal and applies Python `unicode-escape` rules, as Jinja does.
    private mutating func lexString(quote: Unicode.Scalar) throws -> String {
        let openLine = line
        advance(1)
        var result = String.UnicodeScalarView()
        while let scalar = peek() {
            if scalar == quote {
                advance(1)
                return String(result)
            }
            if scalar != "\\" {
                result.append(scalar)
                advance(1)
                continue
            }
            guard let escape = peek(1) else { break }
            advance(2)
            switch escape {
            case "\n": break
            case "\\": result.append("\\")
            case "'": result.append("'")
            case "\"": result.append("\"")
            case "a": result.append("\u{07}")
            case "b": result.append("\u{08}")
            case "f": result.append("\u{0C}")
            case "n": result.append("\n")
            case "r": result.append("\r")
            case "t": result.append("\t")
            case "v": result.append("\u{0B}")
            case "x", "u", "U":
                let width = escape == "x" ? 2 : escape == "u" ? 4 : 8
                var hex = ""
                for _ in 0..<width {
                    guard let digit = peek(), digit.properties.isASCIIHexDigit else {
                        throw ChatTemplateError.syntax(message: "truncated \\\(escape) escape in string literal", line: line)
                    }
                    hex.unicodeScalars.append(digit)
                    advance(1)
                }
                guard let code = UInt32(hex, radix: 16), let decoded = Unicode.Scalar(code) else {
                    throw ChatTemplateError.syntax(message: "invalid \\\(escape) escape in string literal", line: line)
                }
                result.append(decoded)
            case "0"..."7":
                var code = UInt32(escape.value - 48)
                for _ in 0..<2 {
                    guard let digit = peek(), ("0"..."7").contains(digit) else { break }
                    code = code * 8 + (digit.value - 48)
                    advance(1)
                }
                result.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default:
                result.append("\\")
                result.append(escape)
            }
        }
        throw ChatTemplateError.syntax(message: "unterminated string literal", line: openLine)
    }
}
