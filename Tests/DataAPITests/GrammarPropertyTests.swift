@testable import DataAPI
import PropertyBased
import Testing

/// Random `select`, filter and `order` strings, built from the pieces SQL cares about, either are
/// refused (a 4xx) or plan into SQL whose every identifier is the schema cache's and which holds no
/// text of the request: values, aliases and labels travel as binds.
@Suite("Query grammar: random input never reaches SQL")
struct GrammarPropertyTests {
    /// A small schema cache: posts and profiles with a foreign key, and a few castable types.
    static let cache: SchemaCache = {
        func column(_ name: String, _ type: String) -> SchemaCache.Column {
            SchemaCache.Column(name: name, type: type, nullable: true, hasDefault: false, defaultExpression: nil)
        }
        let posts = SchemaCache.Table(
            schema: "public", name: "posts", isView: false,
            columns: [column("id", "uuid"), column("author_id", "uuid"), column("body", "text"), column("created_at", "timestamp with time zone")],
            primaryKey: ["id"])
        let profiles = SchemaCache.Table(
            schema: "public", name: "profiles", isView: false,
            columns: [column("id", "uuid"), column("username", "text")], primaryKey: ["id"])
        let key = SchemaCache.ForeignKey(
            name: "posts_author_id_fkey", schema: "public", table: "posts", columns: ["author_id"],
            referencedSchema: "public", referencedTable: "profiles", referencedColumns: ["id"])
        let types: [String: SchemaCache.CastType] = [
            "text": .init(sql: #""pg_catalog"."text""#, arraySQL: #""pg_catalog"."_text""#),
            "int4": .init(sql: #""pg_catalog"."int4""#, arraySQL: #""pg_catalog"."_int4""#),
            "integer": .init(sql: #""pg_catalog"."int4""#, arraySQL: #""pg_catalog"."_int4""#),
            "double precision": .init(sql: #""pg_catalog"."float8""#, arraySQL: #""pg_catalog"."_float8""#),
        ]
        return SchemaCache(
            schemas: ["public"], tables: ["public.posts": posts, "public.profiles": profiles], foreignKeys: [key], functions: [:],
            castTypes: types)
    }()

    /// Every identifier the planner may quote: schemas, tables, columns, and the types' spellings.
    static let identifiers: Set<String> = {
        var names: Set<String> = ["public", "pg_catalog", "text", "int4", "_text", "_int4", "float8", "_float8"]
        for table in cache.tables.values {
            names.insert(table.name)
            for column in table.columns { names.insert(column.name) }
        }
        return names
    }()

    /// Pieces of request text that must never appear in the SQL outside a bind.
    static let markers = ["zq", "pg_roles", "UNION", ";", "--", "/*", "session_user"]

    static let selectPieces = [
        "id", "body", "author_id", "created_at", "username", "*", ",", ",", ":", "::", "(", ")", "!inner", "!", "profiles",
        "posts", "author", "text", "int", "integer", "double precision", "[]", " ", "\"", "zq", "zqalias", "zq\"", ";", "--",
        "/*", "UNION ALL SELECT ", "pg_roles", " FROM ", "'zq", "\\", ".", "->", "$1", "zqtype", "session_user",
    ]
    static let filterKeys = ["body", "id", "author.username", "profiles.id", "zq", "or", "and", "not.or", "zq;--", "body--"]
    static let valuePieces = [
        "eq.", "in.(", ")", "(", "zq", "'zq", ";", ",", "\"", "is.null", "fts(zq).", "not.", "body.eq.", "id.in.(", "like.", "*",
        "UNION", " ", "ilike.", "cs.{", "}",
    ]
    static let orderPieces = ["body", "id", ".", "asc", "desc", "nullsfirst", ",", "zq", ";", "--", "\"", "author(", ")"]

    static func text(_ pieces: [String], _ count: ClosedRange<Int>) -> Generator<String, AnySequence<Any>> {
        Gen<String?>.element(of: pieces).array(of: count).map { $0.compactMap { $0 }.joined() }.eraseToAny()
    }

    /// The SQL is built only of the cache's identifiers and the planner's own text.
    static func expectClean(_ sql: String, request: String) {
        let (identifiers, rest) = quotedParts(sql)
        for identifier in identifiers {
            #expect(Self.identifiers.contains(identifier), "identifier \(identifier) not from the cache, for \(request): \(sql)")
        }
        for marker in markers {
            #expect(!rest.contains(marker), "'\(marker)' of the request reached the SQL for \(request): \(sql)")
        }
    }

    /// Splits SQL into its double-quoted identifiers (with `""` unescaped) and the text around them.
    static func quotedParts(_ sql: String) -> (identifiers: [String], rest: String) {
        var identifiers: [String] = []
        var rest = ""
        let characters = Array(sql)
        var index = 0
        while index < characters.count {
            if characters[index] == "\"" {
                var name = ""
                index += 1
                while index < characters.count {
                    if characters[index] == "\"" {
                        if index + 1 < characters.count, characters[index + 1] == "\"" {
                            name.append("\"")
                            index += 2
                            continue
                        }
                        break
                    }
                    name.append(characters[index])
                    index += 1
                }
                identifiers.append(name)
                rest.append(" ")
            } else {
                rest.append(characters[index])
            }
            index += 1
        }
        return (identifiers, rest)
    }

    /// Plans a read of posts as the data API does; nil when refused (a 4xx, checked).
    static func plan(select: String, filters: [(String, String)], order: String) -> String? {
        let items: [SelectItem]
        let terms: [OrderTerm]
        var scoped: [ScopedFilter] = []
        do {
            items = try SelectParser.parse(select)
            terms = try OrderParser.parse(order)
            for (key, value) in filters { scoped.append(try FilterParser.parse(key: key, value: value)) }
        } catch {
            return nil
        }
        var planner = ReadPlanner(cache: cache, maxEmbeddedRows: 10)
        do {
            try DataAPIService.checkFilterPaths(scoped, items: items)
            let posts = cache.tables["public.posts"]!
            let (object, whereClause) = try planner.objectAndWhere(items, table: posts, filters: scoped)
            return object + whereClause + (try planner.orderBy(terms, table: posts, alias: "t0"))
        } catch {
            #expect(error.status < 500, "\(select) → \(error)")
            return nil
        }
    }

    @Test("random select strings")
    func randomSelects() async {
        await propertyCheck(count: 3000, input: Self.text(Self.selectPieces, 1...10)) { select in
            if let sql = Self.plan(select: select, filters: [], order: "") { Self.expectClean(sql, request: select) }
        }
    }

    @Test("random filters and orders beside a select with embeds")
    func randomFilters() async {
        await propertyCheck(
            count: 3000, input: Gen<String?>.element(of: Self.filterKeys).map { $0 ?? "body" },
            Self.text(Self.valuePieces, 1...8), Self.text(Self.orderPieces, 0...5)
        ) { key, value, order in
            let select = "zq:body,author:profiles(zqname:username)"
            let request = "\(key)=\(value)&order=\(order)"
            if let sql = Self.plan(select: select, filters: [(key, value)], order: order) { Self.expectClean(sql, request: request) }
        }
    }

    @Test("the planner's casts are the catalog's spelling, whatever the request wrote")
    func castsAreCanonical() {
        #expect(Self.cache.castType("INTEGER") == #""pg_catalog"."int4""#)
        #expect(Self.cache.castType("double   precision") == #""pg_catalog"."float8""#)
        #expect(Self.cache.castType("int[]") == #""pg_catalog"."_int4""#)
        #expect(Self.cache.castType("text; drop") == nil)
        #expect(Self.cache.castType("regclass") == nil)
        let sql = Self.plan(select: "n:body::Integer", filters: [], order: "")
        #expect(sql?.contains(#"::"pg_catalog"."int4""#) == true)
        #expect(Self.plan(select: "body::name AS x FROM profiles AS t0 WHERE false UNION ALL SELECT session_user", filters: [], order: "") == nil)
    }
}
