/// The parsed form of a data-API request's query string: what to select, filter and order.
/// Pure values; nothing here has touched SQL yet.

public indirect enum SelectItem: Sendable, Equatable {
    /// `*`
    case star
    /// `alias:name::cast`
    case column(name: String, alias: String?, cast: String?)
    /// `alias:table!hint!inner(items)`
    case embed(Embed)
}

public struct Embed: Sendable, Equatable {
    public var target: String
    public var alias: String?
    /// A foreign-key constraint or column name that picks one relationship among several.
    public var hint: String?
    public var inner: Bool
    public var items: [SelectItem]

    /// The key of this resource in the JSON answer, and the prefix of its filters (`alias.col=…`).
    public var label: String { alias ?? target }
}

public enum FilterOperator: String, Sendable, CaseIterable {
    case eq, neq, gt, gte, lt, lte, like, ilike, match, imatch, `is`, `in`, cs, cd, ov, sl, sr, nxr, nxl, adj
    case fts, plfts, phfts, wfts
}

public enum FilterValue: Sendable, Equatable {
    case single(String)
    case list([String])
}

/// `column=not.op(language).value`
public struct Condition: Sendable, Equatable {
    public var column: String
    public var negated: Bool
    public var op: FilterOperator
    public var language: String?
    public var value: FilterValue
}

public indirect enum LogicTree: Sendable, Equatable {
    case condition(Condition)
    case and([LogicTree], negated: Bool)
    case or([LogicTree], negated: Bool)
}

public struct OrderTerm: Sendable, Equatable {
    public enum Nulls: Sendable, Equatable { case first, last }
    public var column: String
    public var ascending: Bool
    public var nulls: Nulls?
}

/// A filter that applies to an embedded resource (`author.username=eq.x`) rather than the top level.
public struct ScopedFilter: Sendable, Equatable {
    /// Labels of the embeds it belongs to, outermost first; empty for the top level.
    public var path: [String]
    public var tree: LogicTree
}

/// A query-string grammar error: PostgREST's `PGRST100`.
public struct GrammarError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let details: String?

    public init(_ message: String, details: String? = nil) {
        self.message = message
        self.details = details
    }

    public var description: String { message }
}
