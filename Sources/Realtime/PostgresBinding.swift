import Auth
import Foundation

/// One `postgres_changes` binding of a join: which changes of which table, with an optional
/// filter, under the id the join reply gives it.
struct PostgresBinding: Sendable {
    enum Event: String, Sendable {
        case insert = "INSERT", update = "UPDATE", delete = "DELETE", all = "*"

        func matches(_ type: String) -> Bool { self == .all || rawValue == type }
    }

    let id: Int
    let event: Event
    let schema: String
    /// nil: every published table of the schema (`table: "*"` or none).
    let table: String?
    let filter: Filter?
    /// The binding as the client sent it, plus `id`: the reply must echo it exactly.
    let echo: JSONValue

    struct Invalid: Error {
        let reason: String
    }

    /// Parses a binding as sent; `columns` gives a published table's columns (nil: not published).
    init(_ value: JSONValue, id: Int, columns: (String, String) -> [String]?) throws(Invalid) {
        guard case .object(var fields) = value else { throw Invalid(reason: "each postgres_changes binding must be an object") }
        guard case .string(let eventText)? = fields["event"], let event = Event(rawValue: eventText.uppercased()) else {
            throw Invalid(reason: "postgres_changes event must be INSERT, UPDATE, DELETE or *")
        }
        let schema: String
        switch fields["schema"] {
        case nil, .null?: schema = "public"
        case .string(let given)?: schema = given
        default: throw Invalid(reason: "postgres_changes schema must be a string")
        }
        let table: String?
        switch fields["table"] {
        case nil, .null?, .string("*")?: table = nil
        case .string(let given)?: table = given
        default: throw Invalid(reason: "postgres_changes table must be a string")
        }
        var filter: Filter?
        switch fields["filter"] {
        case nil, .null?, .string("")?: break
        case .string(let text)?:
            guard let table else { throw Invalid(reason: "a postgres_changes filter needs a table") }
            filter = try Filter(text)
            guard let known = columns(schema, table), known.contains(filter!.column) else {
                throw Invalid(reason: "filter column '\(filter!.column)' is not a column of \(schema).\(table)")
            }
        default: throw Invalid(reason: "postgres_changes filter must be a string")
        }
        if let table, columns(schema, table) == nil {
            throw Invalid(reason: "\(schema).\(table) is not published for realtime changes")
        }
        self.id = id
        self.event = event
        self.schema = schema
        self.table = table
        self.filter = filter
        fields["id"] = .number(Double(id))
        echo = .object(fields)
    }

    func matches(schema: String, table: String, type: String) -> Bool {
        self.schema == schema && (self.table == nil || self.table == table) && event.matches(type)
    }
}

/// A binding's filter, `column=op.value`, with the operators Supabase Realtime supports: eq, neq,
/// lt, lte, gt, gte and in (`in.(a,b)`). Evaluated on the row as the subscriber may read it.
struct Filter: Sendable, Equatable {
    enum Operator: String, Sendable { case eq, neq, lt, lte, gt, gte, `in` }

    let column: String
    let op: Operator
    let values: [String]

    init(_ text: String) throws(PostgresBinding.Invalid) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw PostgresBinding.Invalid(reason: "filter '\(text)' is not column=operator.value")
        }
        column = String(text[..<equals])
        let rest = text[text.index(after: equals)...]
        guard let dot = rest.firstIndex(of: "."), let op = Operator(rawValue: String(rest[..<dot])) else {
            throw PostgresBinding.Invalid(reason: "filter '\(text)': the operator must be one of eq, neq, lt, lte, gt, gte, in")
        }
        self.op = op
        let value = String(rest[rest.index(after: dot)...])
        if op == .in {
            guard value.hasPrefix("("), value.hasSuffix(")"), value.count >= 2 else {
                throw PostgresBinding.Invalid(reason: "filter '\(text)': in takes a list, in.(a,b)")
            }
            values = value.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false).map {
                var item = $0.trimmingCharacters(in: .whitespaces)
                if item.count >= 2, item.hasPrefix("\""), item.hasSuffix("\"") { item = String(item.dropFirst().dropLast()) }
                return item
            }
            guard values.count <= 100 else { throw PostgresBinding.Invalid(reason: "filter '\(text)': in takes at most 100 values") }
        } else {
            values = [value]
        }
    }

    /// Whether a row passes: a missing or null column never does.
    func matches(_ row: [String: JSONValue]) -> Bool {
        guard let field = row[column], let text = Self.text(field) else { return false }
        switch op {
        case .eq: return Self.compare(text, values[0]) == .orderedSame
        case .neq: return Self.compare(text, values[0]) != .orderedSame
        case .lt: return Self.compare(text, values[0]) == .orderedAscending
        case .lte: return Self.compare(text, values[0]) != .orderedDescending
        case .gt: return Self.compare(text, values[0]) == .orderedDescending
        case .gte: return Self.compare(text, values[0]) != .orderedAscending
        case .in: return values.contains { Self.compare(text, $0) == .orderedSame }
        }
    }

    static func text(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .number(let number): number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): flag ? "true" : "false"
        case .null: nil
        case .array, .object: value.jsonText
        }
    }

    /// Numbers compare as numbers, everything else as text (ids, names, ISO timestamps).
    static func compare(_ left: String, _ right: String) -> ComparisonResult {
        if let a = Double(left), let b = Double(right) { return a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame }
        return left < right ? .orderedAscending : left > right ? .orderedDescending : .orderedSame
    }
}
