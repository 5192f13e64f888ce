import Testing
@testable import ChatTemplates

/// Bad templates and bad input fail with typed errors that name the construct and line.
@Suite struct ErrorTests {
    private func parseError(_ source: String) -> ChatTemplateError? {
        thrown { _ = try ChatTemplate(source) }
    }

    private func renderError(_ source: String, _ context: [String: TemplateValue] = [:]) throws -> ChatTemplateError? {
        let template = try ChatTemplate(source)
        return thrown { _ = try template.render(context) }
    }

    private func thrown(_ body: () throws -> Void) -> ChatTemplateError? {
        do {
            try body()
            return nil
        } catch {
            return error as? ChatTemplateError
        }
    }

    /// The error's case (`runtime`, `syntax`, …) where a test checks only which kind of failure it is.
    private func kind(_ error: ChatTemplateError?) -> String? {
        error.flatMap { Mirror(reflecting: $0).children.first?.label }
    }

    @Test(arguments: [
        ("line1\n{% include 'other.jinja' %}", "tag 'include'", 2),
        ("{% extends 'base' %}", "tag 'extends'", 1),
        ("{% block body %}{% endblock %}", "tag 'block'", 1),
        ("a\nb\n{% call m() %}{% endcall %}", "tag 'call'", 3),
        ("{{ x|wordwrap(10) }}", "filter 'wordwrap'", 1),
        ("\n{% if x is escaped %}{% endif %}", "test 'escaped'", 2),
        ("{% for x in y recursive %}{% endfor %}", "recursive for loop", 1),
        ("{{ f(*args) }}", "argument unpacking with '*' or '**'", 1),
    ])
    func unsupportedConstructsNameTheConstructAndLine(source: String, construct: String, line: Int) {
        #expect(parseError(source) == .unsupported(construct: construct, line: line))
    }

    @Test func unsupportedGlobalsAndMethodsFailAtRender() throws {
        #expect(try renderError("\n{{ cycler('a', 'b') }}") == .unsupported(construct: "global function 'cycler'", line: 2))
        #expect(try renderError("{{ 'a{}'.format(1) }}") == .unsupported(construct: "method 'str.format'", line: 1))
        #expect(try renderError("\n\n{{ m.setdefault('k', 1) }}", ["m": [:]]) == .unsupported(construct: "method 'dict.setdefault'", line: 3))
    }

    @Test(arguments: [
        ("{% if x %}\nopen", 2),
        ("{{ 1 + }}", 1),
        ("a\n{% endfor %}", 2),
        ("{{ 'unterminated }}", 1),
        ("{# never closed", 1),
        ("{{ (1 }}", 1),
        ("\n\n{% for x in %}{% endfor %}", 3),
        ("{% raw %}no end", 1),
    ])
    func syntaxErrorsCarryTheLine(source: String, line: Int) {
        guard case let .syntax(_, reported)? = parseError(source) else {
            Issue.record("expected a syntax error for \(source.debugDescription)")
            return
        }
        #expect(reported == line)
    }

    @Test func runtimeErrorsCarryTheLine() throws {
        guard case let .runtime(message, line)? = try renderError("ok\n\n{{ missing.attr }}") else {
            Issue.record("expected a runtime error")
            return
        }
        #expect(line == 3)
        #expect(message.contains("missing"))
    }

    @Test func raiseExceptionCarriesTheMessage() throws {
        let error = try renderError("{{ raise_exception('Roles must alternate: ' ~ role) }}", ["role": "tool"])
        #expect(error == .raised(message: "Roles must alternate: tool"))
        #expect(error?.description == "Roles must alternate: tool")
    }

    @Test func breakOutsideLoopIsRejected() throws {
        #expect(kind(try renderError("{% break %}")) == "syntax")
    }

    @Test func integerOverflowIsAnErrorNotATrap() throws {
        #expect(kind(try renderError("{{ 9223372036854775807 + 1 }}")) == "runtime")
        #expect(kind(try renderError("{{ 2 ** 64 }}")) == "runtime")
    }

    @Test func hugeRangeIsRefused() throws {
        #expect(kind(try renderError("{{ range(10000000000)|length }}")) == "runtime")
    }

    @Test func unsupportedStrftimeDirectiveIsAnError() throws {
        #expect(kind(try renderError("{{ strftime_now('%Q') }}")) == "runtime")
    }
}

@Suite struct HostileInputTests {
    @Test func deepNestingFailsCleanly() {
        let parens = String(repeating: "(", count: 5_000) + "1" + String(repeating: ")", count: 5_000)
        let blocks = String(repeating: "{% if true %}", count: 5_000) + String(repeating: "{% endif %}", count: 5_000)
        let negations = "{{ " + String(repeating: "not ", count: 5_000) + "x }}"
        for source in ["{{ \(parens) }}", blocks, negations] {
            #expect(throws: ChatTemplateError.self) { try ChatTemplate(source) }
        }
    }

    @Test func unboundedMacroRecursionFailsCleanly() throws {
        let template = try ChatTemplate("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        #expect(throws: ChatTemplateError.self) { try template.render([:]) }
    }
}
