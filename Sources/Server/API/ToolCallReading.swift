import CoreUtilities

/// A tool call as far as the model has written it: its name (known once the name's string is
/// complete) and its arguments' JSON text as written so far, verbatim; arguments the model wrote as
/// a JSON string are that string's contents, once it is complete.
struct PartialToolCall: Equatable, Sendable {
    var name: String
    var arguments: String
}

/// A model's output read as content and tool calls, whole or as far as it has come: the text that
/// is content for certain (while the output could still turn into a call, that part is held back),
/// and every call whose name has been written. Both only grow as the output grows, so a stream
/// sends what is new of them after every token and ends with exactly the non-streamed answer.
struct ToolCallReading: Equatable, Sendable {
    var content: String
    var calls: [PartialToolCall]

    /// The text as content, no calls.
    init(content: String) {
        self.content = content
        calls = []
    }

    init(content: String, calls: [PartialToolCall]) {
        self.content = content
        self.calls = calls
    }
}

/// Reads tool-call JSON objects out of model output that may stop anywhere.
struct ToolCallScanner {
    enum Outcome { case complete, partial, invalid }

    let bytes: [UInt8]
    /// The members that hold the arguments (the first present, in document order).
    let argumentKeys: [String]
    var i: Int

    init(_ text: String, argumentKeys: [String], at start: Int = 0) {
        bytes = Array(text.utf8)
        self.argumentKeys = argumentKeys
        i = start
    }

    var atEnd: Bool { i >= bytes.count }

    mutating func skipSpace() {
        while i < bytes.count, Self.space.contains(bytes[i]) { i += 1 }
    }

    /// Consumes `literal` if the text continues with it; `.partial` when the text ends inside it.
    mutating func expect(_ literal: String) -> Outcome {
        let l = Array(literal.utf8)
        for j in l.indices {
            guard i + j < bytes.count else { return .partial }
            guard bytes[i + j] == l[j] else { return .invalid }
        }
        i += l.count
        return .complete
    }

    /// The byte offset where `literal` first occurs at or after `from`.
    func find(_ literal: String, from: Int = 0) -> Int? {
        let l = Array(literal.utf8)
        guard bytes.count >= l.count, from <= bytes.count - l.count else { return nil }
        return (from...(bytes.count - l.count)).first { s in bytes[s..<(s + l.count)].elementsEqual(l) }
    }

    /// The text before byte `end`, less what may still turn into `marker` (a proper prefix of it at
    /// the end) and less trailing white space, which content before a call does not keep.
    func content(before end: Int, holding marker: String? = nil) -> String {
        var end = end
        if let marker {
            let l = Array(marker.utf8)
            if let k = (1..<l.count).reversed().first(where: { k in end >= k && bytes[(end - k)..<end].elementsEqual(l[0..<k]) }) {
                end -= k
            }
        }
        while end > 0, Self.space.contains(bytes[end - 1]) { end -= 1 }
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }

    /// Reads a call object (`{"name": …, "<argument key>": …}`) at the current position: the call
    /// once its name is written, `.complete` only for a whole object with a name.
    mutating func callObject() -> (call: PartialToolCall?, outcome: Outcome) {
        guard expect("{") == .complete else { return (nil, atEnd ? .partial : .invalid) }
        var name: String?
        var arguments: String?
        func result(_ outcome: Outcome, complete: Bool = false) -> (PartialToolCall?, Outcome) {
            (name.map { PartialToolCall(name: $0, arguments: arguments ?? (complete ? "{}" : "")) }, outcome)
        }
        var first = true
        while true {
            skipSpace()
            if atEnd { return result(.partial) }
            if bytes[i] == UInt8(ascii: "}") {
                i += 1
                return result(name == nil ? .invalid : .complete, complete: true)
            }
            if !first {
                guard bytes[i] == UInt8(ascii: ",") else { return result(.invalid) }
                i += 1
                skipSpace()
            }
            first = false
            let keyStart = i
            guard !atEnd, bytes[i] == UInt8(ascii: "\"") else { return result(atEnd ? .partial : .invalid) }
            guard case .complete = skipString() else { return result(atEnd ? .partial : .invalid) }
            let key = decodedString(keyStart..<i)
            skipSpace()
            let colon = expect(":")
            guard colon == .complete else { return result(colon) }
            skipSpace()
            let valueStart = i
            let outcome = skipValue()
            let isString = valueStart < bytes.count && bytes[valueStart] == UInt8(ascii: "\"")
            if key == "name", outcome == .complete, isString, name == nil {
                name = decodedString(valueStart..<i)
            } else if let key, argumentKeys.contains(key), arguments == nil, valueStart < i {
                if !isString {
                    arguments = String(decoding: bytes[valueStart..<i], as: UTF8.self)
                } else if outcome == .complete {
                    arguments = decodedString(valueStart..<i)
                }
            }
            guard outcome == .complete else { return result(outcome) }
        }
    }

    /// Call objects one after another from the current position, `separator` reading what stands
    /// between two (`.complete` when another call follows): the calls, and how the last one ended.
    mutating func callSequence(separator: (inout ToolCallScanner) -> Outcome) -> (calls: [PartialToolCall], outcome: Outcome) {
        var calls: [PartialToolCall] = []
        while true {
            let (call, outcome) = callObject()
            guard let call else { return (calls, outcome) }
            calls.append(call)
            guard outcome == .complete, separator(&self) == .complete else { return (calls, outcome) }
        }
    }

    /// Calls in a JSON array (`[{…}, {…}]`) at the current position.
    mutating func callArray() -> (calls: [PartialToolCall], outcome: Outcome) {
        let open = expect("[")
        guard open == .complete else { return ([], open) }
        var calls: [PartialToolCall] = []
        while true {
            skipSpace()
            let (call, outcome) = callObject()
            if let call { calls.append(call) }
            guard outcome == .complete else { return (calls, outcome) }
            skipSpace()
            let comma = expect(",")
            if comma == .complete { continue }
            return (calls, comma == .partial ? .partial : expect("]") == .invalid ? .invalid : .complete)
        }
    }

    /// Skips one JSON value; `.partial` when the text ends inside it.
    private mutating func skipValue() -> Outcome {
        guard !atEnd else { return .partial }
        switch bytes[i] {
        case UInt8(ascii: "\""):
            return skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: "\""):
                    let s = skipString()
                    if s != .complete { return s }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 {
                        i += 1
                        return .complete
                    }
                default: break
                }
                i += 1
            }
            return .partial
        default:
            // A number, true, false or null, up to the next delimiter.
            let start = i
            while i < bytes.count, !Self.space.contains(bytes[i]), !Self.delimiters.contains(bytes[i]) { i += 1 }
            if atEnd { return .partial }
            return i > start ? .complete : .invalid
        }
    }

    private mutating func skipString() -> Outcome {
        i += 1
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "\\"): i += 2
            case UInt8(ascii: "\""):
                i += 1
                return .complete
            default: i += 1
            }
        }
        i = bytes.count  // an escape may have stepped past the end
        return .partial
    }

    private func decodedString(_ range: Range<Int>) -> String? {
        (try? JSONParser.parse(Array(bytes[range])))?.string
    }

    private static let space: Set<UInt8> = [0x20, 0x0A, 0x0D, 0x09]
    private static let delimiters: Set<UInt8> = [UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")]
}

extension ToolCallFormat {
    /// Reads `text` in this family's format: the whole output when `final`, else as far as it has come.
    func read(_ text: String, final: Bool) -> ToolCallReading {
        switch self {
        case .hermes: Self.tagged(text, final: final)
        case .llama3: Self.llama3(text, final: final)
        case .mistral: Self.mistral(text, final: final)
        }
    }

    /// Hermes/Qwen: content, then `<tool_call>{…}</tool_call>` blocks.
    private static func tagged(_ text: String, final: Bool) -> ToolCallReading {
        let open = "<tool_call>"
        var scanner = ToolCallScanner(text, argumentKeys: ["arguments", "parameters"])
        guard let start = scanner.find(open) else {
            return ToolCallReading(content: final ? text : scanner.content(before: scanner.bytes.count, holding: open))
        }
        scanner.i = start + open.utf8.count
        scanner.skipSpace()
        let (calls, outcome) = scanner.callSequence { scanner in
            scanner.skipSpace()
            if scanner.expect("</tool_call>") == .partial { return .partial }
            scanner.skipSpace()
            let next = scanner.expect(open)
            scanner.skipSpace()
            return next
        }
        if calls.isEmpty, final || outcome != .partial { return ToolCallReading(content: text) }
        return ToolCallReading(content: scanner.content(before: start), calls: calls)
    }

    /// Llama 3.x: the whole output is calls, `{"name": …, "parameters": …}` separated by `;`,
    /// perhaps after `<|python_tag|>`.
    private static func llama3(_ text: String, final: Bool) -> ToolCallReading {
        var scanner = ToolCallScanner(text, argumentKeys: ["parameters", "arguments"])
        scanner.skipSpace()
        let tag = scanner.expect("<|python_tag|>")
        scanner.skipSpace()
        if scanner.atEnd || tag == .partial { return ToolCallReading(content: final ? text : "") }
        let (calls, outcome) = scanner.callSequence { scanner in
            scanner.skipSpace()
            let next = scanner.expect(";")
            scanner.skipSpace()
            return next
        }
        if calls.isEmpty { return ToolCallReading(content: final || outcome == .invalid ? text : "") }
        return ToolCallReading(content: "", calls: calls)
    }

    /// Mistral: content, then `[TOOL_CALLS]` and a JSON array of calls (the marker is a special
    /// token, so the text may hold the array alone).
    private static func mistral(_ text: String, final: Bool) -> ToolCallReading {
        let marker = "[TOOL_CALLS]"
        var scanner = ToolCallScanner(text, argumentKeys: ["arguments", "parameters"])
        var before = 0
        if let start = scanner.find(marker) {
            before = start
            scanner.i = start + marker.utf8.count
            scanner.skipSpace()
        } else {
            scanner.skipSpace()
            var probe = scanner
            if scanner.atEnd || (probe.expect(marker) == .partial && !final) { return ToolCallReading(content: final ? text : "") }
            guard scanner.bytes[scanner.i] == UInt8(ascii: "[") else {
                return ToolCallReading(content: final ? text : scanner.content(before: scanner.bytes.count, holding: marker))
            }
        }
        let (calls, outcome) = scanner.callArray()
        if calls.isEmpty {
            return ToolCallReading(content: final || outcome == .invalid ? text : scanner.content(before: before))
        }
        return ToolCallReading(content: scanner.content(before: before), calls: calls)
    }
}
