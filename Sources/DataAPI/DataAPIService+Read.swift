import Database
import Foundation
import PostgresNIO

extension DataAPIService {
    /// `GET`/`HEAD /rest/v1/<table>`: select, filters (embedded too), order, limit/offset or Range,
    /// `Prefer: count=…` with `Content-Range`, and single-object answers.
    public func read(_ request: DataRequest, caller: Caller) async throws(DataAPIError) -> DataResponse {
        let cache = try await cache()
        let table = try table(request, in: cache)
        let items = try Self.parse { () throws(GrammarError) in try SelectParser.parse(request.parameter("select") ?? "*") }
        let order = try Self.parse { () throws(GrammarError) in try OrderParser.parse(request.parameter("order") ?? "") }
        let filters = try Self.filters(request)
        let (limit, offset) = try window(request)

        try Self.checkFilterPaths(filters, items: items)
        var planner = planner(cache)
        let (object, whereClause) = try planner.objectAndWhere(items, table: table, filters: filters)
        let orderClause = try planner.orderBy(order, table: table, alias: "t0")
        let limitBind = planner.builder.bind(limit)
        let offsetBind = planner.builder.bind(offset)
        let inner = "SELECT \(object) AS j FROM \(table.qualifiedName) AS t0\(whereClause)\(orderClause) LIMIT \(limitBind) OFFSET \(offsetBind)"
        let rowsSQL = request.csv ? csvSQL(inner, planner: &planner) : answerSQL(rows: inner, planner: &planner)
        let rowsQuery = planner.builder.query(rowsSQL)
        // The total count reuses the filter SQL with its own binds.
        var countQuery: PostgresQuery?
        var exactUpToMax: PostgresQuery?
        if request.prefer.count != nil {
            var counter = self.planner(cache)
            let countWhere = try counter.objectAndWhere(items, table: table, filters: filters).whereClause
            let rowsOnly = "SELECT 1 FROM \(table.qualifiedName) AS t0\(countWhere)"
            // planned: the planner's estimate; estimated: exact up to max rows, the estimate beyond (PostgREST's rule).
            countQuery = counter.builder.query(
                request.prefer.count == .exact ? "SELECT count(*)::text FROM (\(rowsOnly)) c" : "EXPLAIN (FORMAT JSON) \(rowsOnly)")
            if request.prefer.count == .estimated {
                var limited = self.planner(cache)
                let limitedWhere = try limited.objectAndWhere(items, table: table, filters: filters).whereClause
                let cap = limited.builder.bind(maxRows + 1)
                exactUpToMax = limited.builder.query(
                    "SELECT count(*)::int FROM (SELECT 1 FROM \(table.qualifiedName) AS t0\(limitedWhere) LIMIT \(cap)) c")
            }
        }
        let logger = self.logger
        let (json, count, total) = try await run(caller, request) { [exactUpToMax, countQuery] connection in
            let (json, count) = try await self.answer(try await connection.query(rowsQuery, logger: logger))
            var total: Int?
            if let exactUpToMax {
                for try await value in try await connection.query(exactUpToMax, logger: logger).decode(Int.self) where value <= maxRows {
                    total = value
                }
            }
            if total == nil, let countQuery {
                for try await value in try await connection.query(countQuery, logger: logger).decode(String.self) {
                    total = Int(value) ?? Self.plannedRows(fromExplain: value)
                }
            }
            return (json, count, total)
        }
        var response = DataResponse(
            status: 200, body: request.csv ? json : try Self.shape(json, count: count, single: request.singleObject),
            contentRange: Self.contentRange(offset: offset, count: count, total: total))
        if let total, count < total, request.range != nil || request.parameter("limit") != nil { response.status = 206 }
        return response
    }

    /// The rows of `inner` (a JSON object `j` each) as CSV, built in PostgreSQL: a header from the
    /// first row's keys, then one line per row; fields with commas, quotes or line breaks are quoted,
    /// nested values are JSON. Sized and capped as ``answerSQL(rows:planner:)`` is.
    func csvSQL(_ inner: String, planner: inout ReadPlanner) -> String {
        let field = "CASE WHEN f.value IS NULL THEN '' WHEN f.value ~ '[\",\\r\\n]' THEN '\"' || replace(f.value, '\"', '\"\"') || '\"' ELSE f.value END"
        let body = """
            coalesce(
                (SELECT string_agg(CASE WHEN f.key ~ '[",\\r\\n]' THEN '"' || replace(f.key, '"', '""') || '"' ELSE f.key END, ',')
                 FROM json_each_text((SELECT j FROM r WHERE n = 1)) f) || E'\\n'
                || (SELECT string_agg((SELECT string_agg(\(field), ',') FROM json_each_text(r.j) f), E'\\n' ORDER BY r.n) FROM r),
                '')
            """
        let answer = answerSQL(body: body, count: "(SELECT count(*)::int FROM r)", from: "(SELECT 1) one", planner: &planner)
        return "WITH r AS (SELECT x.j, row_number() OVER () AS n FROM (\(inner)) x) " + answer
    }

    /// "Plan Rows" of the top node of `EXPLAIN (FORMAT JSON)` output.
    static func plannedRows(fromExplain json: String) -> Int? {
        guard let plans = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]],
            let plan = plans.first?["Plan"] as? [String: Any]
        else { return nil }
        return (plan["Plan Rows"] as? NSNumber)?.intValue
    }

    /// Embedded filters must name an embed of the select.
    static func checkFilterPaths(_ filters: [ScopedFilter], items: [SelectItem]) throws(DataAPIError) {
        func labels(_ items: [SelectItem], prefix: [String]) -> [[String]] {
            items.flatMap { item -> [[String]] in
                guard case .embed(let embed) = item else { return [] }
                let path = prefix + [embed.label]
                return [path] + labels(embed.items, prefix: path)
            }
        }
        let known = labels(items, prefix: [])
        for filter in filters where !filter.path.isEmpty && !known.contains(filter.path) {
            throw DataAPIError(
                status: 400, code: "PGRST108",
                message: "'\(filter.path.joined(separator: "."))' is not an embedded resource in this request",
                hint: "Verify that '\(filter.path.joined(separator: "."))' is included in the 'select' query parameter.")
        }
    }
}
