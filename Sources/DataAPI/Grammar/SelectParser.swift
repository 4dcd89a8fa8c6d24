/// Parses `select=`: columns, `alias:col`, `col::type`, `*`, and embeds `alias:table!hint!inner(…)`.
public enum SelectParser {
    /// Embeds may nest this deep (the top level is 0).
    public static let maximumDepth = 3

    public static func parse(_ text: String) throws(GrammarError) -> [SelectItem] {
        guard !text.isEmpty else { return [.star] }
        return try items(Substring(text), depth: 0)
    }

    static func items(_ text: Substring, depth: Int) throws(GrammarError) -> [SelectItem] {
        guard depth <= maximumDepth else { throw GrammarError("select is nested deeper than \(maximumDepth) levels") }
        return try Tokenizer.splitTopLevel(text).map { (part: Substring) throws(GrammarError) -> SelectItem in
            let item = part.trimmingSpaces
            guard !item.isEmpty else { throw GrammarError("empty item in select '\(text)'") }
            return try self.item(Substring(item), depth: depth)
        }
    }

    static func item(_ text: Substring, depth: Int) throws(GrammarError) -> SelectItem {
        if text == "*" { return .star }
        // alias:rest — the alias ends at the first ':' that is not part of '::'.
        var alias: String?
        var rest = text
        if let colon = firstSingleColon(in: text) {
            alias = try Tokenizer.name(text[..<colon], what: "alias")
            rest = text[text.index(after: colon)...]
        }
        if let open = rest.firstIndex(of: "("), !rest.hasPrefix("\"") {
            guard rest.last == ")" else { throw GrammarError("embedded resource '\(rest)' must end with ')'") }
            let head = rest[..<open]
            let inside = rest[rest.index(after: open)..<rest.index(before: rest.endIndex)]
            let parts = head.split(separator: "!", omittingEmptySubsequences: false)
            let target = try Tokenizer.name(parts[0], what: "embedded resource")
            var hint: String?
            var inner = false
            for modifier in parts.dropFirst() {
                switch modifier {
                case "inner": inner = true
                case "left": inner = false
                default:
                    guard hint == nil else { throw GrammarError("more than one hint in '\(head)'") }
                    hint = try Tokenizer.name(modifier, what: "relationship hint")
                }
            }
            let nested = inside.trimmingSpaces.isEmpty ? [SelectItem.star] : try items(inside, depth: depth + 1)
            return .embed(Embed(target: target, alias: alias, hint: hint, inner: inner, items: nested))
        }
        var cast: String?
        var name = rest
        if let range = rest.range(of: "::") {
            name = rest[..<range.lowerBound]
            let type = rest[range.upperBound...]
            // Words of a type name (`double precision`), optionally `[]`. This only shapes the
            // grammar: the planner looks the name up in the schema cache and emits the catalog's
            // spelling, so these characters never reach SQL.
            let words = type.hasSuffix("[]") ? type.dropLast(2) : type
            guard !words.trimmingSpaces.isEmpty, type.count <= 64,
                words.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "_" || $0 == " " })
            else { throw GrammarError("invalid cast '\(type)'") }
            cast = String(type)
        }
        if name.contains("->") { throw GrammarError("JSON paths in select are not supported ('\(name)')") }
        return .column(name: try Tokenizer.name(name, what: "column"), alias: alias, cast: cast)
    }

    private static func firstSingleColon(in text: Substring) -> Substring.Index? {
        var index = text.startIndex
        var inQuotes = false
        while index < text.endIndex {
            let character = text[index]
            if character == "\"" { inQuotes.toggle() }
            if character == "(" && !inQuotes { return nil }
            if character == ":" && !inQuotes {
                let next = text.index(after: index)
                if next < text.endIndex && text[next] == ":" { return nil }
                return index
            }
            index = text.index(after: index)
        }
        return nil
    }
}
