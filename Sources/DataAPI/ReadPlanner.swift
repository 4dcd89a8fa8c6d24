/// Turns the parsed select, filters and order of a request into SQL over the schema cache.
/// Every identifier and type is the cache's, quoted; everything else the request says (values,
/// aliases, labels) is a bind. No text of the request is ever part of the SQL.
struct ReadPlanner {
    let cache: SchemaCache
    /// Most rows one to-many embed answers per parent row.
    let maxEmbeddedRows: Int
    var builder = SQLBuilder()
    private var aliasCounter = 0

    init(cache: SchemaCache, maxEmbeddedRows: Int) {
        self.cache = cache
        self.maxEmbeddedRows = maxEmbeddedRows
    }

    mutating func nextAlias() -> String {
        aliasCounter += 1
        return "t\(aliasCounter)"
    }

    /// The JSON object each row of `table` (aliased `alias`) answers for `items`: one key per item, in
    /// the order asked, embedded filters applied inside their embeds, and `!inner` embeds added to
    /// `innerConditions`. Keys are bound values (an alias is the client's text and never becomes
    /// SQL); columns and types are the schema cache's, quoted.
    mutating func rowObject(
        _ items: [SelectItem], table: SchemaCache.Table, alias: String, path: [String], filters: [ScopedFilter],
        innerConditions: inout [String]
    ) throws(DataAPIError) -> String {
        var pairs: [(key: String, value: String)] = []
        for item in items {
            switch item {
            case .star:
                for column in table.columns {
                    pairs.append((builder.bind(column.name), "\(alias).\(quoted(column.name))"))
                }
            case .column(let name, let label, let cast):
                let column = try table.requireColumn(name)
                var expression = "\(alias).\(quoted(column.name))"
                if let cast {
                    guard let type = cache.castType(cast) else {
                        throw DataAPIError(
                            status: 400, code: "PGRST100", message: "unknown type '\(cast)' in a cast",
                            hint: "Cast to a type the database has, such as text, int or numeric.")
                    }
                    expression += "::" + type
                }
                pairs.append((builder.bind(label ?? column.name), expression))
            case .embed(let embed):
                let relationship = try Relationship.resolve(embed, from: table, in: cache)
                let child = nextAlias()
                let childPath = path + [embed.label]
                var nestedInner: [String] = []
                let childObject = try rowObject(
                    embed.items, table: relationship.target, alias: child, path: childPath, filters: filters,
                    innerConditions: &nestedInner)
                var conditions = try relationship.joins.map { (pair) throws(DataAPIError) -> String in
                    _ = try table.requireColumn(pair.parent)
                    return "\(child).\(quoted(pair.target)) = \(alias).\(quoted(pair.parent))"
                }
                conditions += nestedInner
                for filter in filters where filter.path == childPath {
                    conditions.append(try condition(filter.tree, table: relationship.target, alias: child))
                }
                let from = "FROM \(relationship.target.qualifiedName) AS \(child) WHERE " + conditions.joined(separator: " AND ")
                let value: String
                switch relationship.cardinality {
                case .toOne:
                    value = "(SELECT \(childObject) \(from) LIMIT 1)"
                case .toMany:
                    // Capped like a top-level read: an embed never builds more than max rows in memory.
                    let row = nextAlias()
                    value = "(SELECT coalesce(json_agg(\(row).j), '[]'::json) FROM (SELECT \(childObject) AS j \(from) LIMIT \(builder.bind(maxEmbeddedRows))) \(row))"
                }
                pairs.append((builder.bind(embed.label), value))
                if embed.inner {
                    innerConditions.append("EXISTS (SELECT 1 \(from))")
                }
            }
        }
        return Self.jsonObject(pairs)
    }

    /// `json_build_object` of the pairs, keeping their order. A function takes at most 100 arguments,
    /// so a wider row is aggregated from a VALUES list instead (slower, and rare).
    static func jsonObject(_ pairs: [(key: String, value: String)]) -> String {
        if pairs.count <= 50 {
            return "json_build_object(" + pairs.map { "\($0.key)::text, \($0.value)" }.joined(separator: ", ") + ")"
        }
        let rows = pairs.enumerated().map { "(\($0.offset), \($0.element.key)::text, to_json(\($0.element.value)))" }
        return "(SELECT json_object_agg(kv.k, kv.v ORDER BY kv.n) FROM (VALUES \(rows.joined(separator: ", "))) AS kv(n, k, v))"
    }

    /// The row object of a top-level read over `table` (aliased `t0`) and its WHERE clause: the
    /// top-level filters and the `!inner` embeds. Empty when there is nothing to filter.
    mutating func objectAndWhere(
        _ items: [SelectItem], table: SchemaCache.Table, filters: [ScopedFilter]
    ) throws(DataAPIError) -> (object: String, whereClause: String) {
        var conditions: [String] = []
        let object = try rowObject(items, table: table, alias: "t0", path: [], filters: filters, innerConditions: &conditions)
        for filter in filters where filter.path.isEmpty {
            conditions.append(try condition(filter.tree, table: table, alias: "t0"))
        }
        return (object, conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
    }

    /// SQL for a logic tree over `table` aliased `alias`.
    mutating func condition(_ tree: LogicTree, table: SchemaCache.Table, alias: String) throws(DataAPIError) -> String {
        switch tree {
        case .condition(let condition):
            return try self.condition(condition, table: table, alias: alias)
        case .and(let children, let negated), .or(let children, let negated):
            let joiner: String
            if case .and = tree { joiner = " AND " } else { joiner = " OR " }
            var parts: [String] = []
            for child in children { parts.append(try condition(child, table: table, alias: alias)) }
            let joined = "(" + parts.joined(separator: joiner) + ")"
            return negated ? "NOT " + joined : joined
        }
    }

    private mutating func condition(_ condition: Condition, table: SchemaCache.Table, alias: String) throws(DataAPIError) -> String {
        let column = try table.requireColumn(condition.column)
        let target = "\(alias).\(quoted(column.name))"
        let sql: String
        switch (condition.op, condition.value) {
        case (.is, .single(let keyword)):
            sql = "\(target) IS \(["null": "NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"][keyword] ?? "NULL")"
        case (.in, .list(let values)):
            sql = "\(target) = ANY(\(builder.bind(values))::text[]::\(column.type)[])"
        case (.like, .single(let pattern)), (.ilike, .single(let pattern)):
            let keyword = condition.op == .like ? "LIKE" : "ILIKE"
            sql = "\(target)::text \(keyword) \(builder.bind(pattern.replacingOccurrences(of: "*", with: "%")))"
        case (.match, .single(let pattern)):
            sql = "\(target)::text ~ \(builder.bind(pattern))"
        case (.imatch, .single(let pattern)):
            sql = "\(target)::text ~* \(builder.bind(pattern))"
        case (.fts, .single(let text)), (.plfts, .single(let text)), (.phfts, .single(let text)), (.wfts, .single(let text)):
            let function = ["fts": "to_tsquery", "plfts": "plainto_tsquery", "phfts": "phraseto_tsquery", "wfts": "websearch_to_tsquery"][
                condition.op.rawValue]!
            let language = condition.language.map { "\(builder.bind($0))::regconfig, " } ?? ""
            let document = column.type == "tsvector" ? target : "to_tsvector(\(language)\(target)::text)"
            sql = "\(document) @@ \(function)(\(language)\(builder.bind(text)))"
        case (let op, .single(let value)):
            let symbol: String
            switch op {
            case .eq: symbol = "="
            case .neq: symbol = "<>"
            case .gt: symbol = ">"
            case .gte: symbol = ">="
            case .lt: symbol = "<"
            case .lte: symbol = "<="
            case .cs: symbol = "@>"
            case .cd: symbol = "<@"
            case .ov: symbol = "&&"
            case .sl: symbol = "<<"
            case .sr: symbol = ">>"
            case .nxr: symbol = "&<"
            case .nxl: symbol = "&>"
            case .adj: symbol = "-|-"
            default: throw DataAPIError(status: 400, code: "PGRST100", message: "operator \(op.rawValue) does not take this value")
            }
            sql = "\(target) \(symbol) \(builder.bind(value))::\(column.type)"
        default:
            throw DataAPIError(status: 400, code: "PGRST100", message: "operator \(condition.op.rawValue) does not take this value")
        }
        return condition.negated ? "NOT (\(sql))" : sql
    }

    func orderBy(_ terms: [OrderTerm], table: SchemaCache.Table, alias: String) throws(DataAPIError) -> String {
        guard !terms.isEmpty else { return "" }
        let parts = try terms.map { (term) throws(DataAPIError) -> String in
            let column = try table.requireColumn(term.column)
            var sql = "\(alias).\(quoted(column.name)) " + (term.ascending ? "ASC" : "DESC")
            if let nulls = term.nulls { sql += nulls == .first ? " NULLS FIRST" : " NULLS LAST" }
            return sql
        }
        return " ORDER BY " + parts.joined(separator: ", ")
    }
}
