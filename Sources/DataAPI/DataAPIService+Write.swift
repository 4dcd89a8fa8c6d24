import Database
import Foundation
import PostgresNIO

extension DataAPIService {
    /// `POST /rest/v1/<table>`: one object or an array, optional `columns=`, upsert with
    /// `Prefer: resolution=…` and `on_conflict=`, and `Prefer: return=…`.
    public func insert(_ request: DataRequest, caller: Caller) async throws(DataAPIError) -> DataResponse {
        let cache = try await cache()
        let table = try table(request, in: cache)
        let body = try Self.jsonBody(request.body)
        let rows: [[String: Any]]
        if let object = body as? [String: Any] {
            rows = [object]
        } else if let array = body as? [Any], let objects = array as? [[String: Any]] {
            rows = objects
        } else {
            throw DataAPIError.badBody("the body must be a JSON object or an array of objects")
        }
        var columnNames: [String]
        if let columns = request.parameter("columns") {
            columnNames = try Self.parse { () throws(GrammarError) in
                try Tokenizer.splitTopLevel(Substring(columns)).map { (part) throws(GrammarError) in try Tokenizer.name(part, what: "column") }
            }
        } else {
            var seen: [String] = []
            for row in rows { for key in row.keys.sorted() where !seen.contains(key) { seen.append(key) } }
            columnNames = seen
        }
        let columns = try columnNames.map { (name) throws(DataAPIError) in try table.requireColumn(name) }
        var planner = planner(cache)
        let bodyBind = planner.builder.bind(String(decoding: request.body, as: UTF8.self))
        let columnList = columns.map { quoted($0.name) }.joined(separator: ", ")
        var sql: String
        if columns.isEmpty {
            guard rows.count == 1 else { throw DataAPIError.badBody("empty objects can only be inserted one at a time") }
            sql = "INSERT INTO \(table.qualifiedName) AS t0 DEFAULT VALUES"
        } else {
            let elements = "json_array_elements(CASE WHEN json_typeof(\(bodyBind)::json) = 'array' THEN \(bodyBind)::json ELSE json_build_array(\(bodyBind)::json) END)"
            // A key missing from an object is NULL, or with `Prefer: missing=default` the column's default.
            let values = columns.map { column -> String in
                let value = "(json_populate_record(NULL::\(table.qualifiedName), e.value)).\(quoted(column.name))"
                guard request.prefer.missingDefault, let fallback = column.defaultExpression else { return value }
                return "CASE WHEN e.value::jsonb ? \(planner.builder.bind(column.name)) THEN \(value) ELSE \(fallback) END"
            }
            sql = """
                INSERT INTO \(table.qualifiedName) AS t0 (\(columnList))
                SELECT \(values.joined(separator: ", ")) FROM \(elements) AS e
                """
        }
        if let resolution = request.prefer.resolution {
            let conflict = try request.parameter("on_conflict").map { (text) throws(DataAPIError) in
                try Self.parse { () throws(GrammarError) in
                    try Tokenizer.splitTopLevel(Substring(text)).map { (part) throws(GrammarError) in try Tokenizer.name(part, what: "column") }
                }
            } ?? table.primaryKey
            guard !conflict.isEmpty else {
                throw DataAPIError(status: 400, code: "PGRST100", message: "upsert needs on_conflict or a primary key")
            }
            let conflictList = try conflict.map { (name) throws(DataAPIError) in quoted(try table.requireColumn(name).name) }
                .joined(separator: ", ")
            switch resolution {
            case .ignoreDuplicates:
                sql += " ON CONFLICT (\(conflictList)) DO NOTHING"
            case .mergeDuplicates:
                let updates = columns.filter { !conflict.contains($0.name) }.map { "\(quoted($0.name)) = EXCLUDED.\(quoted($0.name))" }
                sql += updates.isEmpty
                    ? " ON CONFLICT (\(conflictList)) DO NOTHING"
                    : " ON CONFLICT (\(conflictList)) DO UPDATE SET " + updates.joined(separator: ", ")
            }
        }
        var response = try await write(sql, planner: &planner, table: table, request: request, caller: caller)
        response.status = 201
        if rows.count == 1, response.location == nil, !table.primaryKey.isEmpty, let row = rows.first,
            table.primaryKey.allSatisfy({ row[$0] != nil })
        {
            response.location = "/\(table.name)?" + table.primaryKey.map { "\($0)=eq.\(row[$0]!)" }.joined(separator: "&")
        }
        return response
    }

    /// `PATCH /rest/v1/<table>?filters`: updates the matching rows with the body's columns.
    public func update(_ request: DataRequest, caller: Caller) async throws(DataAPIError) -> DataResponse {
        let cache = try await cache()
        let table = try table(request, in: cache)
        guard let object = try Self.jsonBody(request.body) as? [String: Any], !object.isEmpty else {
            throw DataAPIError.badBody("PATCH takes a JSON object with the columns to change")
        }
        let columns = try object.keys.sorted().map { (name) throws(DataAPIError) in try table.requireColumn(name) }
        var planner = planner(cache)
        let bodyBind = planner.builder.bind(String(decoding: request.body, as: UTF8.self))
        let assignments = columns.map { "\(quoted($0.name)) = b.\(quoted($0.name))" }.joined(separator: ", ")
        let whereClause = try guardedWhere(request, table: table, planner: &planner, caller: caller, verb: "UPDATE")
        let sql = """
            UPDATE \(table.qualifiedName) AS t0 SET \(assignments)
            FROM (SELECT * FROM json_populate_record(NULL::\(table.qualifiedName), \(bodyBind)::json)) b\(whereClause)
            """
        return try await write(sql, planner: &planner, table: table, request: request, caller: caller)
    }

    /// `DELETE /rest/v1/<table>?filters`.
    public func delete(_ request: DataRequest, caller: Caller) async throws(DataAPIError) -> DataResponse {
        let cache = try await cache()
        let table = try table(request, in: cache)
        var planner = planner(cache)
        let whereClause = try guardedWhere(request, table: table, planner: &planner, caller: caller, verb: "DELETE")
        return try await write("DELETE FROM \(table.qualifiedName) AS t0\(whereClause)", planner: &planner, table: table, request: request, caller: caller)
    }

    /// The WHERE clause of an update or delete; refuses none at all unless the caller is the service role
    /// (PostgREST's safeupdate guard), so that a forgotten filter cannot change a whole table.
    private func guardedWhere(
        _ request: DataRequest, table: SchemaCache.Table, planner: inout ReadPlanner, caller: Caller, verb: String
    ) throws(DataAPIError) -> String {
        let filters = try Self.filters(request)
        if let embedded = filters.first(where: { !$0.path.isEmpty }) {
            throw DataAPIError(status: 400, code: "PGRST100", message: "filters on embedded resources ('\(embedded.path.joined(separator: "."))') are not allowed in writes")
        }
        guard !filters.isEmpty || caller.role == .serviceRole else {
            throw DataAPIError(status: 400, code: "21000", message: "\(verb) requires a WHERE clause", hint: "Add a filter, e.g. ?id=eq.<value>")
        }
        var conditions: [String] = []
        for filter in filters { conditions.append(try planner.condition(filter.tree, table: table, alias: "t0")) }
        return conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
    }

    /// Runs a write with `RETURNING`, and answers the representation (shaped by `select`) or nothing.
    private func write(
        _ statement: String, planner: inout ReadPlanner, table: SchemaCache.Table, request: DataRequest, caller: Caller
    ) async throws(DataAPIError) -> DataResponse {
        let items = try Self.parse { () throws(GrammarError) in try SelectParser.parse(request.parameter("select") ?? "*") }
        var inner: [String] = []
        let object = try planner.rowObject(items, table: table, alias: "t0", path: [], filters: [], innerConditions: &inner)
        let representation = request.prefer.returning == .representation
        guard representation else {
            // No RETURNING: a write the caller may do but not read back (RLS SELECT policy) still succeeds.
            let query = planner.builder.query(statement)
            let count = try await runWrite(caller, request, query) { $0.metadata.rows ?? 0 }
            return DataResponse(status: 204, body: nil, contentRange: Self.contentRange(offset: 0, count: count, total: nil))
        }
        let sql = "WITH written AS (\(statement) RETURNING t0.*) " + answerSQL(
            rows: "SELECT \(object) AS j FROM written AS t0", single: request.singleObject, planner: &planner)
        let query = planner.builder.query(sql)
        let (json, count) = try await runWrite(caller, request, query, decode: Self.answer)
        return DataResponse(
            status: 200, body: try Self.shape(json, count: count, single: request.singleObject),
            contentRange: Self.contentRange(offset: 0, count: count, total: nil))
    }

    static func jsonBody(_ bytes: [UInt8]) throws(DataAPIError) -> Any {
        guard !bytes.isEmpty else { throw DataAPIError.badBody("the request body is empty") }
        do {
            return try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        } catch {
            throw DataAPIError.badBody("the request body is not valid JSON")
        }
    }
}
