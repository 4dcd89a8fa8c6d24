/// Parses filters: `col=op.value`, `col=not.op.value`, `col=fts(english).word`, `col=in.(a,b)`,
/// and the logic trees `or=(a.eq.1,and(b.gt.2,c.is.null))`, `not.and=(…)`, `embed.or=(…)`.
public enum FilterParser {
    /// Logic trees may nest this deep.
    public static let maximumDepth = 8
    /// At most this many values in one `in.(…)` list.
    public static let maximumListLength = 10_000

    /// A query parameter as a filter: `key` is `col`, `embed.col`, `or`, `not.or`, `embed.and`…
    public static func parse(key: String, value: String) throws(GrammarError) -> ScopedFilter {
        var path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard path.allSatisfy({ !$0.isEmpty }) else { throw GrammarError("invalid filter key '\(key)'") }
        let last = path.removeLast()
        if last == "or" || last == "and" {
            var negated = false
            if path.last == "not" {
                path.removeLast()
                negated = true
            }
            guard value.hasPrefix("("), value.hasSuffix(")") else {
                throw GrammarError("failed to parse logic tree (\(value))", details: "expected '(' … ')'")
            }
            let inside = value.dropFirst().dropLast()
            return ScopedFilter(path: path, tree: try logic(last, negated: negated, inside: Substring(inside), depth: 1))
        }
        let condition = try self.condition(column: Tokenizer.name(Substring(last), what: "column"), expression: Substring(value))
        return ScopedFilter(path: path, tree: .condition(condition))
    }

    static func logic(_ kind: String, negated: Bool, inside: Substring, depth: Int) throws(GrammarError) -> LogicTree {
        guard depth <= maximumDepth else { throw GrammarError("logic tree is nested deeper than \(maximumDepth) levels") }
        let children = try Tokenizer.splitTopLevel(inside).map { (part: Substring) throws(GrammarError) -> LogicTree in
            try element(part.trimmingSpaces, depth: depth)
        }
        guard !children.isEmpty else { throw GrammarError("empty logic tree") }
        return kind == "or" ? .or(children, negated: negated) : .and(children, negated: negated)
    }

    /// One element inside a logic tree: `col.op.value`, `col.not.op.value`, `and(…)`, `not.or(…)`.
    static func element(_ text: String, depth: Int) throws(GrammarError) -> LogicTree {
        var rest = Substring(text)
        var negated = false
        if rest.hasPrefix("not.and(") || rest.hasPrefix("not.or(") {
            negated = true
            rest = rest.dropFirst(4)
        }
        for kind in ["and", "or"] where rest.hasPrefix(kind + "(") {
            guard rest.hasSuffix(")") else { throw GrammarError("failed to parse logic tree (\(text))") }
            return try logic(kind, negated: negated, inside: rest.dropFirst(kind.count + 1).dropLast(), depth: depth + 1)
        }
        guard let dot = rest.firstIndex(of: ".") else {
            throw GrammarError("failed to parse logic tree (\(text))", details: "expected column.operator.value")
        }
        let column = try Tokenizer.name(rest[..<dot], what: "column")
        return .condition(try condition(column: column, expression: rest[rest.index(after: dot)...]))
    }

    /// `[not.]op[(language)].value`
    static func condition(column: String, expression: Substring) throws(GrammarError) -> Condition {
        var rest = expression
        var negated = false
        if rest.hasPrefix("not.") {
            negated = true
            rest = rest.dropFirst(4)
        }
        guard let dot = rest.firstIndex(of: ".") else {
            throw GrammarError("failed to parse filter (\(expression))", details: "expected operator.value")
        }
        var operatorText = rest[..<dot]
        let valueText = rest[rest.index(after: dot)...]
        var language: String?
        if let open = operatorText.firstIndex(of: "("), operatorText.last == ")" {
            let name = operatorText[operatorText.index(after: open)..<operatorText.index(before: operatorText.endIndex)]
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0 == "_" }) else {
                throw GrammarError("invalid text search language '\(name)'")
            }
            language = String(name)
            operatorText = operatorText[..<open]
        }
        guard let op = FilterOperator(rawValue: String(operatorText)) else {
            throw GrammarError("unknown operator '\(operatorText)' in filter (\(expression))")
        }
        if language != nil && ![.fts, .plfts, .phfts, .wfts].contains(op) {
            throw GrammarError("only text search operators take a language ('\(operatorText)')")
        }
        let value: FilterValue
        switch op {
        case .in:
            guard valueText.hasPrefix("("), valueText.hasSuffix(")") else {
                throw GrammarError("failed to parse filter (\(expression))", details: "in. takes a list: in.(a,b)")
            }
            let inside = valueText.dropFirst().dropLast()
            let items = inside.isEmpty ? [] : try Tokenizer.splitTopLevel(inside)
            guard items.count <= maximumListLength else {
                throw GrammarError("in. lists take at most \(maximumListLength) values")
            }
            value = .list(items.map { Tokenizer.unquote(Substring($0.trimmingSpaces)) })
        case .is:
            let keyword = valueText.lowercased()
            guard ["null", "true", "false", "unknown"].contains(keyword) else {
                throw GrammarError("is. takes null, true, false or unknown (got '\(valueText)')")
            }
            value = .single(keyword)
        default:
            value = .single(Tokenizer.unquote(valueText))
        }
        return Condition(column: column, negated: negated, op: op, language: language, value: value)
    }
}

/// Parses `order=col.desc.nullslast,other`.
public enum OrderParser {
    public static func parse(_ text: String) throws(GrammarError) -> [OrderTerm] {
        if text.isEmpty { return [] }
        return try Tokenizer.splitTopLevel(Substring(text)).map { (part: Substring) throws(GrammarError) -> OrderTerm in
            var pieces = part.split(separator: ".", omittingEmptySubsequences: false)
            guard let first = pieces.first, !first.isEmpty else { throw GrammarError("empty term in order '\(text)'") }
            pieces.removeFirst()
            var term = OrderTerm(column: try Tokenizer.name(first, what: "order column"), ascending: true, nulls: nil)
            for modifier in pieces {
                switch modifier {
                case "asc": term.ascending = true
                case "desc": term.ascending = false
                case "nullsfirst": term.nulls = .first
                case "nullslast": term.nulls = .last
                default: throw GrammarError("failed to parse order (\(part))", details: "unexpected '\(modifier)'")
                }
            }
            return term
        }
    }
}
