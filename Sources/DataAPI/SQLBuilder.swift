import PostgresNIO

/// Accumulates SQL text and its bound parameters. Values only ever enter as binds (`$n`);
/// identifiers only through `quoted(_:)` on names taken from the schema cache.
struct SQLBuilder {
    private(set) var binds = PostgresBindings()
    private var count = 0

    mutating func bind(_ value: String) -> String {
        binds.append(value)
        count += 1
        return "$\(count)"
    }

    mutating func bind(_ values: [String]) -> String {
        binds.append(values)
        count += 1
        return "$\(count)"
    }

    mutating func bind(_ value: Int) -> String {
        binds.append(value)
        count += 1
        return "$\(count)"
    }

    func query(_ sql: String) -> PostgresQuery {
        PostgresQuery(unsafeSQL: sql, binds: binds)
    }
}

/// A quoted SQL identifier.
func quoted(_ identifier: String) -> String {
    guard identifier.utf8.contains(UInt8(ascii: "\"")) else { return "\"" + identifier + "\"" }
    return "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

extension SchemaCache.Table {
    var qualifiedName: String { quoted(schema) + "." + quoted(name) }

    func requireColumn(_ name: String) throws(DataAPIError) -> SchemaCache.Column {
        guard let column = column(name) else { throw .unknownColumn(name, table: self.name) }
        return column
    }
}
