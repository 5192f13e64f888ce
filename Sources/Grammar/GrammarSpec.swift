import Foundation
import Synchronization

/// What a request constrains its output to, as the API fields name it: `response_format`
/// (`json_object`, `json_schema`), and vLLM's `guided_json`, `guided_regex`, `guided_choice`,
/// `guided_grammar`. Hashable and Codable, so it can key caches and travel to worker processes.
public enum GrammarSpec: Sendable, Hashable, Codable {
    case jsonObject
    /// The schema's JSON text.
    case jsonSchema(String)
    case regex(String)
    case choice([String])
    /// EBNF in the subset ``EBNFParser`` reads.
    case ebnf(String)

    /// The grammar this spec describes; throws a message naming what is not supported.
    public func grammar() throws(GrammarError) -> Grammar {
        switch self {
        case .jsonObject: return JSONSchemaConverter.anyObjectGrammar()
        case let .jsonSchema(text): return try JSONSchemaConverter.grammar(schema: text)
        case let .regex(pattern): return Grammar(root: try RegexParser.parse(pattern))
        case let .choice(options):
            guard !options.isEmpty else { throw GrammarError("guided_choice must list at least one choice") }
            return Grammar(root: .choice(options.map { .literal($0) }))
        case let .ebnf(source): return try EBNFParser.parse(source)
        }
    }
}

/// Compiled grammars over one vocabulary, by spec: a schema is compiled once, its masks are computed
/// ahead on a thread of their own, and shared by every request that uses it. Least recently used
/// entries go beyond `capacity`.
public final class GrammarCache: Sendable {
    public let vocabulary: TokenVocabulary
    private let capacity: Int
    private let entries = Mutex<(grammars: [GrammarSpec: TokenGrammar], order: [GrammarSpec])>(([:], []))

    public init(vocabulary: TokenVocabulary, capacity: Int = 64) {
        self.vocabulary = vocabulary
        self.capacity = capacity
    }

    public func grammar(for spec: GrammarSpec) throws(GrammarError) -> TokenGrammar {
        if let hit = entries.withLock({ e -> TokenGrammar? in
            guard let g = e.grammars[spec] else { return nil }
            e.order.removeAll { $0 == spec }
            e.order.append(spec)
            return g
        }) { return hit }
        let compiled = TokenGrammar(automaton: try GrammarAutomaton(try spec.grammar()), vocabulary: vocabulary)
        let added = entries.withLock { e in
            defer { while e.order.count > capacity { e.grammars[e.order.removeFirst()] = nil } }
            guard let existing = e.grammars[spec] else {
                e.grammars[spec] = compiled
                e.order.append(spec)
                return compiled
            }
            return existing
        }
        // The masks are computed ahead on a thread of their own, while this request starts on the lazy path.
        if added === compiled {
            // At the step loop's priority: a step waits for the lock that this thread takes to
            // publish, and a thread of lower priority was preempted holding it.
            Thread.detachNewThread { compiled.precomputeMasks(limit: compiled.precomputeLimit) }
        }
        return added
    }
}
