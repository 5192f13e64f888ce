import CoreUtilities
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

/// Compiled grammars over one vocabulary, by spec: a schema is compiled once and shared by every request
/// that uses it; least recently used entries go beyond `capacity`.
///
/// A compiled grammar's masks are computed ahead (``TokenGrammar/precomputeMasks(limit:batch:)``) by one
/// worker thread per cache, one grammar at a time, so clients sending many distinct schemas queue work
/// instead of starting threads. The thread starts when a grammar is compiled while none runs and ends
/// when nothing is pending. It takes the most recently used pending grammar first: that is the one
/// whose requests are arriving now, while an older grammar's requests have already passed its early
/// positions on the lazy path and the grammar itself is next in line for eviction. An evicted grammar
/// is no longer pending, so it is skipped. Requests never wait for the worker: a position it has not
/// reached gets its mask when a request first reaches it.
public final class GrammarCache: Sendable {
    public let vocabulary: TokenVocabulary
    private let precompute: @Sendable (TokenGrammar) -> Void
    private let entries: Mutex<Entries>

    struct Entries {
        /// One cost unit a grammar, within `capacity`.
        var grammars: LRUCache<GrammarSpec, TokenGrammar>
        /// Compiled and cached, masks not computed ahead yet.
        var pending: Set<GrammarSpec> = []
        var workerRunning = false
        /// Worker threads started over the cache's life (one at a time).
        var workersStarted = 0
    }

    public convenience init(vocabulary: TokenVocabulary, capacity: Int = 64) {
        self.init(vocabulary: vocabulary, capacity: capacity) { $0.precomputeMasks(limit: $0.precomputeLimit) }
    }

    /// `precompute` is what the worker does with each grammar.
    init(vocabulary: TokenVocabulary, capacity: Int, precompute: @escaping @Sendable (TokenGrammar) -> Void) {
        self.vocabulary = vocabulary
        self.precompute = precompute
        entries = Mutex(Entries(grammars: LRUCache(budget: capacity)))
    }

    public func grammar(for spec: GrammarSpec) throws(GrammarError) -> TokenGrammar {
        if let hit = entries.withLock({ $0.grammars.use(spec) }) { return hit }
        let compiled = TokenGrammar(automaton: try GrammarAutomaton(try spec.grammar()), vocabulary: vocabulary)
        let (grammar, startWorker) = entries.withLock { e -> (TokenGrammar, Bool) in
            if let existing = e.grammars.peek(spec) { return (existing, false) }
            e.grammars.touch(spec, compiled, cost: 1)
            e.pending.insert(spec)
            e.pending = e.pending.filter(e.grammars.contains)
            guard !e.workerRunning else { return (compiled, false) }
            e.workerRunning = true
            e.workersStarted += 1
            return (compiled, true)
        }
        // At the step loop's priority: a step waits for the lock that the worker takes to publish
        // masks, and a thread of lower priority was preempted holding it.
        if startWorker { Thread.detachNewThread { self.precomputePending() } }
        return grammar
    }

    /// The worker's loop: the most recently used pending grammar, until none is pending.
    private func precomputePending() {
        while let next = entries.withLock({ e -> TokenGrammar? in
            guard let spec = e.grammars.recency.reversed().first(where: e.pending.contains) else {
                e.workerRunning = false
                return nil
            }
            e.pending.remove(spec)
            return e.grammars.peek(spec)
        }) { precompute(next) }
    }

    /// The worker's state, for tests.
    var state: Entries { entries.withLock { $0 } }
}
