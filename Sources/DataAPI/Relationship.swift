/// How an embedded resource relates to its parent, found from the foreign keys.
struct Relationship {
    enum Cardinality { case toOne, toMany }

    let target: SchemaCache.Table
    let cardinality: Cardinality
    /// Pairs of (parent column, target column) that must be equal.
    let joins: [(parent: String, target: String)]

    /// Resolves `embed` from `parent`: a foreign key either way between them, picked by the hint
    /// (constraint or column name) when there are several.
    static func resolve(_ embed: Embed, from parent: SchemaCache.Table, in cache: SchemaCache) throws(DataAPIError) -> Relationship {
        guard let target = cache.table(embed.target, schema: parent.schema) else {
            throw DataAPIError(
                status: 400, code: "PGRST200",
                message: "Could not find a relationship between '\(parent.name)' and '\(embed.target)' in the schema cache")
        }
        var candidates: [Relationship] = []
        var names: [String] = []
        for key in cache.foreignKeys {
            if let hint = embed.hint, key.name != hint, key.columns != [hint] { continue }
            if key.schema == parent.schema, key.table == parent.name, key.referencedTable == target.name,
                key.referencedSchema == target.schema
            {
                candidates.append(Relationship(
                    target: target, cardinality: .toOne, joins: Array(zip(key.columns, key.referencedColumns))))
                names.append(key.name)
            } else if key.schema == target.schema, key.table == target.name, key.referencedTable == parent.name,
                key.referencedSchema == parent.schema
            {
                candidates.append(Relationship(
                    target: target, cardinality: .toMany, joins: Array(zip(key.referencedColumns, key.columns))))
                names.append(key.name)
            }
        }
        guard !candidates.isEmpty else {
            throw DataAPIError(
                status: 400, code: "PGRST200",
                message: "Could not find a relationship between '\(parent.name)' and '\(embed.target)' in the schema cache",
                hint: embed.hint.map { "no foreign key named or on column '\($0)'" })
        }
        guard candidates.count == 1 else {
            throw DataAPIError(
                status: 300, code: "PGRST201",
                message: "Could not embed because more than one relationship was found for '\(parent.name)' and '\(embed.target)'",
                details: names.sorted().joined(separator: ", "),
                hint: "Try changing '\(embed.target)' to one of: " + names.sorted().map { "\(embed.target)!\($0)" }.joined(separator: ", "))
        }
        return candidates[0]
    }
}
