import Foundation

/// What the OpenAPI document says about one column or RPC argument: its JSON type, a format, and
/// the rules the database enforces on it that JSON Schema can state — the type's own range, a
/// `varchar(n)` length, and the column's CHECK constraints in the shapes PostgreSQL prints them.
///
/// Why: a client generator, a form or a fuzzer reads the document to know what the server accepts.
/// A rule the document does not state is still enforced (by the database); one it states must be
/// exactly the database's, so each translation below is of a shape whose meaning is certain, and
/// anything else is left out rather than guessed.
enum OpenAPIColumnSchema {
    static func make(type: String, checks: [String] = []) -> [String: Any] {
        var schema: [String: Any] = ["type": jsonType(type), "format": format(type)]
        for (key, value) in typeRules(type) { schema[key] = value }
        for check in checks {
            for rule in rules(fromCheck: check) { add(rule, to: &schema) }
        }
        return schema
    }

    static func jsonType(_ type: String) -> String {
        switch type {
        case "integer", "bigint", "smallint": "integer"
        case "numeric", "real", "double precision": "number"
        case "boolean": "boolean"
        case "json", "jsonb": "object"
        default: type.hasSuffix("[]") ? "array" : "string"
        }
    }

    /// JSON Schema's own format names where one means the same as the PostgreSQL type (so tools
    /// generate and check values that the database parses); PostgREST's type name otherwise.
    static func format(_ type: String) -> String {
        switch type {
        case "uuid": "uuid"
        case "timestamp with time zone": "date-time"
        case "date": "date"
        default: type
        }
    }

    /// What the type alone rules out: integers past their width, strings past `varchar(n)`, and
    /// geographic points that are not a WKT/EWKT point within longitude/latitude bounds.
    static func typeRules(_ type: String) -> [String: Any] {
        switch type {
        case "smallint": return ["minimum": Int(Int16.min), "maximum": Int(Int16.max)]
        case "integer": return ["minimum": Int(Int32.min), "maximum": Int(Int32.max)]
        case "bigint": return ["minimum": Int64.min, "maximum": Int64.max]
        default: break
        }
        if let length = parenthesised(type, after: "character varying") { return ["maxLength": length] }
        // format_type names the schema when it is not on the search path: extensions.geography(Point,4326).
        let unqualified = type.split(separator: ".", maxSplits: 1).last.map(String.init) ?? type
        if unqualified.hasPrefix("geography(Point") || unqualified.hasPrefix("geometry(Point") {
            // A point as WKT or EWKT (PostGIS also reads hex EWKB; the document names the readable form).
            let longitude = #"-?(180(\.0+)?|(1[0-7][0-9]|[0-9]{1,2})(\.[0-9]+)?)"#
            let latitude = #"-?(90(\.0+)?|[0-8]?[0-9](\.[0-9]+)?)"#
            return ["pattern": "^(SRID=4326;)?POINT ?\\(\(longitude) \(latitude)\\)$"]
        }
        return [:]
    }

    /// The rules in one `pg_get_constraintdef` text, e.g.
    /// `CHECK (((char_length(body) >= 1) AND (char_length(body) <= 2000)))`. Only conjunctions of
    /// understood comparisons are translated; a constraint with any other part gives nothing, since
    /// half of an `OR` would claim a rule the database does not have.
    static func rules(fromCheck definition: String) -> [(String, Any)] {
        var text = definition.trimmingCharacters(in: .whitespaces)
        if text.hasSuffix(" NOT VALID") { text = String(text.dropLast(" NOT VALID".count)) }
        guard text.hasPrefix("CHECK ") else { return [] }
        text = stripParentheses(String(text.dropFirst("CHECK ".count)))
        var rules: [(String, Any)] = []
        for part in topLevelConjuncts(text) {
            guard let translated = rule(stripParentheses(part)) else { return [] }
            rules.append(contentsOf: translated)
        }
        return rules
    }

    private static func rule(_ comparison: String) -> [(String, Any)]? {
        // char_length(col) <op> n
        if let match = comparison.wholeMatch(of: /char_length\("?[A-Za-z0-9_]+"?\) (>=|<=|>|<|=) ([0-9]+)/),
           let bound = Int(match.2) {
            switch match.1 {
            case ">=": return [("minLength", bound)]
            case ">": return [("minLength", bound + 1)]
            case "<=": return [("maxLength", bound)]
            case "<": return [("maxLength", max(bound - 1, 0))]
            default: return [("minLength", bound), ("maxLength", bound)]
            }
        }
        // col <op> number
        if let match = comparison.wholeMatch(of: /"?[A-Za-z0-9_]+"? (>=|<=|>|<) (-?[0-9]+(?:\.[0-9]+)?)/),
           let bound = Double(match.2) {
            let value: Any = Int(match.2).map { $0 as Any } ?? bound
            switch match.1 {
            case ">=": return [("minimum", value)]
            case ">": return [("minimum", value), ("exclusiveMinimum", true)]
            case "<=": return [("maximum", value)]
            default: return [("maximum", value), ("exclusiveMaximum", true)]
            }
        }
        // col ~ 'regex'::text — the same search (unanchored) in ECMA syntax, when it can be said.
        if let match = comparison.wholeMatch(of: /"?[A-Za-z0-9_]+"? ~ '((?:[^']|'')*)'::text/),
           let pattern = ecmaPattern(String(match.1).replacingOccurrences(of: "''", with: "'")) {
            return [("pattern", pattern)]
        }
        // col = ANY (ARRAY['a'::text, 'b'::text])
        if let match = comparison.wholeMatch(of: /"?[A-Za-z0-9_]+"? = ANY \(ARRAY\[(.*)\]\)/) {
            var values: [String] = []
            for item in match.1.split(separator: ", ", omittingEmptySubsequences: false) {
                guard let value = item.wholeMatch(of: /'((?:[^']|'')*)'::text/) else { return nil }
                values.append(String(value.1).replacingOccurrences(of: "''", with: "'"))
            }
            return [("enum", values)]
        }
        return nil
    }

    /// PostgreSQL's bracket classes in ECMA spelling; nil when some other POSIX-only syntax remains.
    static func ecmaPattern(_ posix: String) -> String? {
        var pattern = posix
        for (name, ecma) in [("space", #"\s"#), ("digit", "0-9"), ("alpha", "A-Za-z"), ("alnum", "A-Za-z0-9"),
                             ("upper", "A-Z"), ("lower", "a-z")] {
            pattern = pattern.replacingOccurrences(of: "[:\(name):]", with: ecma)
        }
        return pattern.contains("[:") || pattern.contains("[[.") || pattern.contains("[[=") ? nil : pattern
    }

    private static func add(_ rule: (String, Any), to schema: inout [String: Any]) {
        let (key, value) = rule
        switch (key, schema[key]) {
        case (_, nil): schema[key] = value
        case ("minLength", let old as Int), ("minimum", let old as Int): schema[key] = max(old, value as? Int ?? old)
        case ("maxLength", let old as Int), ("maximum", let old as Int): schema[key] = min(old, value as? Int ?? old)
        default:
            // A second pattern (or any repeated rule): every one must hold.
            schema["allOf"] = (schema["allOf"] as? [[String: Any]] ?? []) + [[key: value]]
        }
    }

    private static func parenthesised(_ type: String, after prefix: String) -> Int? {
        guard type.hasPrefix(prefix + "("), type.hasSuffix(")") else { return nil }
        return Int(type.dropFirst(prefix.count + 1).dropLast())
    }

    /// Removes parentheses that enclose the whole text (as many layers as there are).
    static func stripParentheses(_ text: String) -> String {
        var text = Substring(text.trimmingCharacters(in: .whitespaces))
        while text.first == "(", text.last == ")", closingIndex(of: text) == text.index(before: text.endIndex) {
            text = text.dropFirst().dropLast()
        }
        return String(text)
    }

    /// The index of the parenthesis closing the one `text` starts with (quotes respected).
    private static func closingIndex(of text: Substring) -> String.Index? {
        var depth = 0
        var quoted = false
        for index in text.indices {
            switch text[index] {
            case "'": quoted.toggle()
            case "(" where !quoted: depth += 1
            case ")" where !quoted:
                depth -= 1
                if depth == 0 { return index }
            default: break
            }
        }
        return nil
    }

    /// The parts of `a AND b AND c` at parenthesis depth 0 and outside string literals.
    static func topLevelConjuncts(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        var quoted = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if !quoted, depth == 0, text[index...].hasPrefix(" AND ") {
                parts.append(current)
                current = ""
                index = text.index(index, offsetBy: 5)
                continue
            }
            switch character {
            case "'": quoted.toggle()
            case "(" where !quoted: depth += 1
            case ")" where !quoted: depth -= 1
            default: break
            }
            current.append(character)
            index = text.index(after: index)
        }
        parts.append(current)
        return parts
    }
}
