import DataAPI
import Foundation

/// The OpenAPI 3 description of what the data API exposes, generated from the schema cache.
enum OpenAPIDocument {
    static func make(from cache: SchemaCache, schema: String) throws -> Data {
        var paths: [String: Any] = ["/": ["get": ["summary": "OpenAPI description (this document)", "responses": ["200": ["description": "OK"]]]]]
        var schemas: [String: Any] = [:]
        for table in cache.tables.values.filter({ $0.schema == schema }).sorted(by: { $0.name < $1.name }) {
            let reference = ["$ref": "#/components/schemas/\(table.name)"]
            let ok = ["description": "OK"]
            var operations: [String: Any] = [
                "get": ["tags": [table.name], "responses": ["200": ["description": "OK", "content": ["application/json": ["schema": ["type": "array", "items": reference]]]], "206": ["description": "Partial Content"]]],
            ]
            if !table.isView {
                operations["post"] = ["tags": [table.name], "requestBody": ["content": ["application/json": ["schema": reference]]], "responses": ["201": ["description": "Created"]]]
                operations["patch"] = ["tags": [table.name], "requestBody": ["content": ["application/json": ["schema": reference]]], "responses": ["204": ["description": "No Content"], "200": ok]]
                operations["delete"] = ["tags": [table.name], "responses": ["204": ["description": "No Content"], "200": ok]]
            }
            paths["/\(table.name)"] = operations
            schemas[table.name] = [
                "type": "object",
                "required": table.columns.filter { !$0.nullable && !$0.hasDefault }.map(\.name),
                "properties": Dictionary(uniqueKeysWithValues: table.columns.map { column in
                    var property = OpenAPIColumnSchema.make(type: column.type, checks: column.checks ?? [])
                    if column.nullable { property["nullable"] = true }
                    return (column.name, property)
                }),
            ]
        }
        for (key, overloads) in cache.functions.sorted(by: { $0.key < $1.key }) where key.hasPrefix(schema + ".") {
            guard let function = overloads.first else { continue }
            var operation: [String: Any] = [
                "tags": ["rpc"],
                "requestBody": ["content": ["application/json": ["schema": [
                    "type": "object",
                    "required": function.requiredArguments.map(\.name),
                    "properties": Dictionary(function.arguments.map { ($0.name, OpenAPIColumnSchema.make(type: $0.type)) }, uniquingKeysWith: { first, _ in first }),
                ]]]],
                "responses": ["200": ["description": "OK"], "204": ["description": "No Content"]],
            ]
            var methods: [String: Any] = ["post": operation]
            if function.volatility != .volatile {
                operation.removeValue(forKey: "requestBody")
                methods["get"] = operation
            }
            paths["/rpc/\(function.name)"] = methods
        }
        let document: [String: Any] = [
            "openapi": "3.0.3",
            "info": ["title": "FeedFusion data API", "version": "1", "description": "PostgREST-compatible; every request runs under Row Level Security."],
            "paths": paths,
            "components": ["schemas": schemas],
        ]
        return try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
    }
}
