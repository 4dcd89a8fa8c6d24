import Database
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

        var planner = ReadPlanner(cache: cache)
        var inner: [String] = []
        let list = try planner.selectList(items, table: table, alias: "t0", path: [], filters: filters, innerConditions: &inner)
        var conditions = inner
        for filter in filters where filter.path.isEmpty {
            conditions.append(try planner.condition(filter.tree, table: table, alias: "t0"))
        }
        try Self.checkFilterPaths(filters, items: items)
        let whereClause = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        let orderClause = try planner.orderBy(order, table: table, alias: "t0")
        let limitBind = planner.builder.bind(limit)
        let offsetBind = planner.builder.bind(offset)
        let rowsSQL = """
            SELECT coalesce(json_agg(r), '[]'::json)::text, count(*)::int
            FROM (SELECT \(list) FROM \(table.qualifiedName) AS t0\(whereClause)\(orderClause) LIMIT \(limitBind) OFFSET \(offsetBind)) r
            """
        let rowsQuery = planner.builder.query(rowsSQL)
        // The total count reuses the filter SQL with its own binds.
        var countQuery: PostgresQuery?
        if request.prefer.count != nil {
            var counter = ReadPlanner(cache: cache)
            var countInner: [String] = []
            _ = try counter.selectList(items, table: table, alias: "t0", path: [], filters: filters, innerConditions: &countInner)
            var countConditions = countInner
            for filter in filters where filter.path.isEmpty {
                countConditions.append(try counter.condition(filter.tree, table: table, alias: "t0"))
            }
            let countWhere = countConditions.isEmpty ? "" : " WHERE " + countConditions.joined(separator: " AND ")
            countQuery = counter.builder.query("SELECT count(*)::int FROM \(table.qualifiedName) AS t0\(countWhere)")
        }
        let logger = self.logger
        let (json, count, total) = try await run(caller, readOnly: true) { connection in
            let (json, count) = try await Self.jsonAndCount(try await connection.query(rowsQuery, logger: logger))
            var total: Int?
            if let countQuery {
                for try await value in try await connection.query(countQuery, logger: logger).decode(Int.self) { total = value }
            }
            return (json, count, total)
        }
        var response = DataResponse(
            status: 200, body: try Self.shape(json, count: count, single: request.singleObject),
            contentRange: Self.contentRange(offset: offset, count: count, total: total))
        if let total, count < total, request.range != nil || request.parameter("limit") != nil { response.status = 206 }
        return response
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
