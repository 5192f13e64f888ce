/// One choice's tool calls as they stream, the way OpenAI streams them: content as soon as it can no
/// longer be the start of a call, then per call a first delta with `id`, `type` and `function.name`,
/// and after it the arguments' text in fragments as the model writes them. The deltas add up to the
/// non-streamed answer (``ToolPlan/result(_:)``).
///
/// ```swift
/// var stream = ToolCallStream(plan: plan)
/// stream.append("<tool_call>{\"name\": \"f\", \"arguments\": {\"x\"")  // a delta naming f, arguments `{"x"`
/// stream.append(": 1}}</tool_call>")                                 // `: 1}`
/// stream.finish()                                                    // nothing more
/// ```
struct ToolCallStream {
    struct Step {
        var content: String?
        var calls: [ToolCallDelta]
    }

    let plan: ToolPlan
    private var text = ""
    /// Unicode scalars of content sent, and per call started its id and the scalars of arguments sent.
    private var sentContent = 0
    private var started: [(id: String, arguments: Int)] = []

    init(plan: ToolPlan) {
        self.plan = plan
    }

    /// Whether the choice has made a call (its finish reason is then `tool_calls`).
    var madeCalls: Bool { !started.isEmpty }

    /// What to send after the model wrote `delta`.
    mutating func append(_ delta: String) -> Step {
        text += delta
        return step(plan.read(text, final: false))
    }

    /// What is left to send when the choice ends (text held back as a possible call is content after all).
    mutating func finish() -> Step {
        step(plan.read(text, final: true))
    }

    private mutating func step(_ reading: ToolCallReading) -> Step {
        var next = Step(content: nil, calls: [])
        let content = reading.content.unicodeScalars
        if content.count > sentContent {
            next.content = String(String.UnicodeScalarView(content.dropFirst(sentContent)))
            sentContent = content.count
        }
        for (index, call) in reading.calls.enumerated() {
            let arguments = call.arguments.unicodeScalars
            if index == started.count {
                started.append((ToolCall.newID(), arguments.count))
                next.calls.append(ToolCallDelta(index: index, id: started[index].id, name: call.name, arguments: call.arguments))
            } else if arguments.count > started[index].arguments {
                let fragment = String(String.UnicodeScalarView(arguments.dropFirst(started[index].arguments)))
                next.calls.append(ToolCallDelta(index: index, arguments: fragment))
                started[index].arguments = arguments.count
            }
        }
        return next
    }
}
