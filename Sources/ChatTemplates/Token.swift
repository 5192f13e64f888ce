/// One lexical unit of a template: literal text, a tag delimiter, or a piece of an expression.
enum TokenKind: Equatable {
    case text(String)
    case variableBegin
    case variableEnd
    case blockBegin
    case blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    case op(String)
    case end

    /// How the token reads in an error message.
    var display: String {
        switch self {
        case .text: return "template text"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case let .name(name): return "'\(name)'"
        case let .string(value): return "string '\(value)'"
        case let .integer(value): return "integer \(value)"
        case let .float(value): return "number \(value)"
        case let .op(op): return "'\(op)'"
        case .end: return "end of template"
        }
    }
}

struct Token {
    let kind: TokenKind
    let line: Int
}
