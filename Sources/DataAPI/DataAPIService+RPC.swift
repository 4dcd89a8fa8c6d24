import Database
import Foundation
import PostgresNIO

extension DataAPIService {
    /// `POST /rest/v1/rpc/<fn>` with named JSON arguments, or `GET`/`HEAD` with arguments in the
    /// query string for STABLE/IMMUTABLE functions. Set-returning results take select, filters,
    /// order and limit; scalars answer their value; void answers 204.
    public func call(_ request: DataRequest, caller: Caller, viaGET: Bool) async throws(DataAPIError) -> DataResponse {
        let cache = try await cache()
        var arguments: [String: Any] = [:]
        if viaGET {
            for (name, value) in request.query where !Self.reservedParameters.contains(name) { arguments[name] = value }
        } else if !request.body.isEmpty {
            guard let object = try Self.jsonBody(request.body) as? [String: Any] else {
                throw DataAPIError.badBody("RPC arguments must be a JSON object")
            }
            arguments = object
        }
        let overloads = cache.functions["\(request.schema).\(request.resource)"] ?? []
        // GET: parameters that are not arguments of the chosen function are filters on its result.
        let candidates = overloads.filter { function in
            let names = Set(function.arguments.map(\.name))
            let required = Set(function.requiredArguments.map(\.name))
            let given = viaGET ? Set(arguments.keys).intersection(names) : Set(arguments.keys)
            return required.isSubset(of: given) && given.isSubset(of: names)
        }
        guard let function = candidates.max(by: { $0.arguments.count < $1.arguments.count }) else {
            let names = arguments.keys.sorted().joined(separator: ", ")
            throw DataAPIError(
                status: 404, code: "PGRST202",
                message: "Could not find the function \(request.schema).\(request.resource)(\(names)) in the schema cache")
        }
        if viaGET && function.volatility == .volatile {
            throw DataAPIError(status: 405, code: "PGRST101", message: "a volatile function can only be called with POST")
        }
        let argumentNames = Set(function.arguments.map(\.name))
        let given = function.arguments.filter { arguments[$0.name] != nil }
        var planner = planner(cache)
        // Arguments arrive as one JSON object; json_to_record gives each its declared type.
        let payload = given.reduce(into: [String: Any]()) { $0[$1.name] = arguments[$1.name] }
        let payloadJSON = String(decoding: (try? JSONSerialization.data(withJSONObject: payload, options: [.fragmentsAllowed])) ?? Data("{}".utf8), as: UTF8.self)
        let argumentsBind = planner.builder.bind(payloadJSON)
        let recordType = given.map { "\(quoted($0.name)) \($0.type)" }.joined(separator: ", ")
        let callArguments = given.map { "\(quoted($0.name)) := a.\(quoted($0.name))" }.joined(separator: ", ")
        let source = given.isEmpty ? "" : "json_to_record(\(argumentsBind)::json) AS a(\(recordType)), LATERAL "
        let functionCall = "\(quoted(function.schema)).\(quoted(function.name))(\(callArguments))"
        let filterRequest = DataRequest(
            schema: request.schema, resource: request.resource, query: request.query.filter { !argumentNames.contains($0.name) || !viaGET },
            prefer: request.prefer, range: request.range, singleObject: request.singleObject)

        let sql: String
        var offset = 0
        // A set asked for as one object: any other count is refused by the statement, so that a
        // volatile function's writes roll back with it (as PostgREST's do).
        let single = function.returnsSet && request.singleObject
        if function.returnsVoid {
            sql = answerSQL(body: "''", count: "0", from: "\(source)\(functionCall) AS t0", planner: &planner)
        } else if function.returnsSet || function.returnsRows, let rowTable = cache.table(function.returnType, schema: function.schema)
            ?? cache.table(String(function.returnType.split(separator: ".").last ?? ""), schema: function.schema)
        {
            // Rows of a known table type: the full read grammar applies to the result.
            let items = try Self.parse { () throws(GrammarError) in try SelectParser.parse(request.parameter("select") ?? "*") }
            let order = try Self.parse { () throws(GrammarError) in try OrderParser.parse(request.parameter("order") ?? "") }
            let filters = try Self.filters(filterRequest, excluding: viaGET ? argumentNames : [])
            let (object, whereClause) = try planner.objectAndWhere(items, table: rowTable, filters: filters)
            let (limit, start) = try window(request)
            offset = start
            let orderClause = try planner.orderBy(order, table: rowTable, alias: "t0")
            let limitBind = planner.builder.bind(limit)
            let offsetBind = planner.builder.bind(start)
            sql = answerSQL(
                rows: "SELECT \(object) AS j FROM \(source)\(functionCall) AS t0\(whereClause)\(orderClause) LIMIT \(limitBind) OFFSET \(offsetBind)",
                single: single, planner: &planner)
        } else if function.returnsSet {
            let (limit, start) = try window(request)
            offset = start
            let limitBind = planner.builder.bind(limit)
            let offsetBind = planner.builder.bind(start)
            sql = answerSQL(
                rows: "SELECT to_json(t0) AS j FROM \(source)\(functionCall) AS t0 LIMIT \(limitBind) OFFSET \(offsetBind)",
                single: single, planner: &planner)
        } else {
            sql = answerSQL(
                body: "coalesce(to_json(\(functionCall))::text, 'null')", count: "1",
                from: given.isEmpty ? "(SELECT 1) AS one" : "json_to_record(\(argumentsBind)::json) AS a(\(recordType))", planner: &planner)
        }
        let query = planner.builder.query(sql)
        let logger = self.logger
        // PostgREST's access mode: GET and HEAD read only, and so is a POST to a STABLE or IMMUTABLE
        // function (the feeds, as the Supabase clients call them) — which also lets a replica answer it.
        // (A volatile function called with GET was refused above.)
        let (json, count) =
            function.volatility == .volatile
            ? try await runWrite(caller, request, query, decode: Self.answer)
            : try await run(caller, request) { connection in try await self.answer(try await connection.query(query, logger: logger)) }
        if function.returnsVoid { return DataResponse(status: 204, body: nil) }
        if !function.returnsSet { return DataResponse(status: 200, body: json) }
        return DataResponse(
            status: 200, body: try Self.shape(json, count: count, single: request.singleObject),
            contentRange: Self.contentRange(offset: offset, count: count, total: nil))
    }
}
