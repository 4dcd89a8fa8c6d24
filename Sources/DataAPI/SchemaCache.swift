import Foundation
import Logging
import PostgresNIO

/// What the data API may touch, read from the catalog: tables and views with their columns and keys,
/// the foreign keys between them, and the callable functions. SQL identifiers come only from here.
public struct SchemaCache: Sendable {
    public struct Column: Sendable, Codable, Equatable {
        public let name: String
        /// Type as `format_type` prints it, usable in a cast.
        public let type: String
        public let nullable: Bool
        public let hasDefault: Bool
        /// The column default as SQL, from the catalog (`pg_get_expr`), for `Prefer: missing=default`.
        public let defaultExpression: String?
        /// The CHECK constraints on this column alone, as `pg_get_constraintdef` prints them: the
        /// OpenAPI document states those it can express, so a client (or a fuzzer) knows the rule.
        public var checks: [String]? = nil
    }

    public struct Table: Sendable {
        public let schema: String
        public let name: String
        public let isView: Bool
        public let columns: [Column]
        public let primaryKey: [String]
        public func column(_ name: String) -> Column? { columns.first { $0.name == name } }
    }

    /// A foreign key from `table.columns` to `referencedTable.referencedColumns`.
    public struct ForeignKey: Sendable {
        public let name: String
        public let schema: String
        public let table: String
        public let columns: [String]
        public let referencedSchema: String
        public let referencedTable: String
        public let referencedColumns: [String]
    }

    public struct Argument: Sendable, Codable, Equatable {
        public let name: String
        public let type: String
    }

    public struct Function: Sendable {
        public enum Volatility: String, Sendable { case immutable = "i", stable = "s", volatile = "v" }
        public let schema: String
        public let name: String
        public let arguments: [Argument]
        /// How many trailing arguments have defaults.
        public let defaultCount: Int
        public let volatility: Volatility
        public let returnsSet: Bool
        public let returnType: String
        /// The return type is a table row or record: results are rows with columns.
        public let returnsRows: Bool
        public var returnsVoid: Bool { returnType == "void" }
        public var requiredArguments: ArraySlice<Argument> { arguments.dropLast(defaultCount) }
    }

    public let schemas: [String]
    public let tables: [String: Table]
    public let foreignKeys: [ForeignKey]
    public let functions: [String: [Function]]
    /// Types a `select=col::type` cast may name, by every spelling a client may use (`int4`, `integer`,
    /// `int`, `timestamp with time zone`…, lower-cased), each to its canonical quoted form
    /// (`"pg_catalog"."int4"`): the SQL a cast emits is this, never the request's text.
    public let castTypes: [String: CastType]

    public struct CastType: Sendable, Equatable {
        /// `"schema"."typname"`
        public let sql: String
        /// The array type's `"schema"."_typname"`, when the type has one.
        public let arraySQL: String?
    }

    public init(
        schemas: [String], tables: [String: Table], foreignKeys: [ForeignKey], functions: [String: [Function]],
        castTypes: [String: CastType] = [:]
    ) {
        self.schemas = schemas
        self.tables = tables
        self.foreignKeys = foreignKeys
        self.functions = functions
        self.castTypes = castTypes
    }

    public func table(_ name: String, schema: String) -> Table? { tables["\(schema).\(name)"] }

    /// The SQL type a cast names, or nil when the catalog has no such castable type. `name` is what the
    /// client wrote: case and runs of spaces do not matter, and a trailing `[]` asks for the array type.
    public func castType(_ name: String) -> String? {
        var words = name.lowercased().split(separator: " ").joined(separator: " ")
        var array = false
        if words.hasSuffix("[]") {
            array = true
            words = String(words.dropLast(2)).trimmingSpaces
        }
        guard let type = castTypes[words] ?? Self.castAliases[words].flatMap({ castTypes[$0] }) else { return nil }
        return array ? type.arraySQL : type.sql
    }

    /// SQL's own spellings that name a type but are neither its `typname` nor what `format_type` prints.
    static let castAliases: [String: String] = [
        "int": "int4", "decimal": "numeric", "float": "float8", "char": "bpchar", "character": "bpchar",
        "timestamp without time zone": "timestamp", "time without time zone": "time", "double": "float8",
    ]

    /// Reads the catalog for `schemas`.
    public static func load(schemas: [String], on connection: PostgresConnection, logger: Logger) async throws -> SchemaCache {
        var tables: [String: Table] = [:]
        for try await (schema, name, kind, columnsJSON, keyJSON) in try await connection.query(
            """
            SELECT n.nspname::text, c.relname::text, c.relkind::text,
                   coalesce((SELECT json_agg(json_build_object(
                                 'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                                 'nullable', NOT a.attnotnull, 'hasDefault', a.atthasdef OR a.attidentity <> '',
                                 'defaultExpression', (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
                                                       WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum),
                                 'checks', (SELECT json_agg(pg_get_constraintdef(con.oid) ORDER BY con.conname) FROM pg_constraint con
                                            WHERE con.conrelid = a.attrelid AND con.contype = 'c' AND con.conkey = ARRAY[a.attnum]))
                             ORDER BY a.attnum)
                             FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]')::text,
                   coalesce((SELECT json_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum))
                             FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                             WHERE i.indrelid = c.oid AND i.indisprimary), '[]')::text
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY(\(schemas)) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
            """, logger: logger
        ).decode((String, String, String, String, String).self) {
            tables["\(schema).\(name)"] = Table(
                schema: schema, name: name, isView: kind == "v" || kind == "m",
                columns: try JSONDecoder().decode([Column].self, from: Data(columnsJSON.utf8)),
                primaryKey: try JSONDecoder().decode([String].self, from: Data(keyJSON.utf8)))
        }

        var foreignKeys: [ForeignKey] = []
        for try await (name, schema, table, columns, refSchema, refTable, refColumns) in try await connection.query(
            """
            SELECT con.conname::text, ns.nspname::text, cls.relname::text,
                   (SELECT json_agg(a.attname ORDER BY k.ordinality) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ordinality)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum)::text,
                   rns.nspname::text, rcls.relname::text,
                   (SELECT json_agg(a.attname ORDER BY k.ordinality) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ordinality)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum)::text
            FROM pg_constraint con
            JOIN pg_class cls ON cls.oid = con.conrelid JOIN pg_namespace ns ON ns.oid = cls.relnamespace
            JOIN pg_class rcls ON rcls.oid = con.confrelid JOIN pg_namespace rns ON rns.oid = rcls.relnamespace
            WHERE con.contype = 'f' AND ns.nspname = ANY(\(schemas)) AND rns.nspname = ANY(\(schemas))
            """, logger: logger
        ).decode((String, String, String, String, String, String, String).self) {
            foreignKeys.append(ForeignKey(
                name: name, schema: schema, table: table,
                columns: try JSONDecoder().decode([String].self, from: Data(columns.utf8)),
                referencedSchema: refSchema, referencedTable: refTable,
                referencedColumns: try JSONDecoder().decode([String].self, from: Data(refColumns.utf8))))
        }

        var functions: [String: [Function]] = [:]
        for try await (schema, name, argumentsJSON, defaults, volatility, returnsSet, returnType, returnsRows) in try await connection.query(
            """
            SELECT n.nspname::text, p.proname::text,
                   coalesce((SELECT json_agg(json_build_object(
                                 'name', coalesce(p.proargnames[i], ''),
                                 'type', format_type(coalesce(p.proallargtypes[i], p.proargtypes[i - 1]), NULL)) ORDER BY i)
                             FROM generate_series(1, coalesce(array_length(p.proallargtypes, 1), p.pronargs)) i
                             WHERE p.proargmodes IS NULL OR p.proargmodes[i] IN ('i', 'b', 'v')), '[]')::text,
                   p.pronargdefaults::int, p.provolatile::text, p.proretset, format_type(p.prorettype, NULL),
                   (t.typtype = 'c' OR t.oid = 'record'::regtype OR p.proallargtypes IS NOT NULL AND p.proretset)
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_type t ON t.oid = p.prorettype
            WHERE n.nspname = ANY(\(schemas)) AND p.prokind = 'f' AND t.typname <> 'trigger'
            """, logger: logger
        ).decode((String, String, String, Int, String, Bool, String, Bool).self) {
            let function = Function(
                schema: schema, name: name,
                arguments: try JSONDecoder().decode([Argument].self, from: Data(argumentsJSON.utf8)),
                defaultCount: defaults, volatility: Function.Volatility(rawValue: volatility) ?? .volatile,
                returnsSet: returnsSet, returnType: returnType, returnsRows: returnsRows)
            functions["\(schema).\(name)", default: []].append(function)
        }
        // Castable types: base, domain, enum, range and multirange types of pg_catalog, the exposed
        // schemas and `extensions` (PostGIS). Not pseudo-types, not composites (table rows), and not
        // the reg* types, whose input looks names up in the catalog.
        var castTypes: [String: CastType] = [:]
        for try await (schema, name, printed, arrayName) in try await connection.query(
            """
            SELECT n.nspname::text, t.typname::text, format_type(t.oid, NULL), a.typname::text
            FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            LEFT JOIN pg_type a ON a.oid = t.typarray
            WHERE (n.nspname = ANY(\(schemas)) OR n.nspname IN ('pg_catalog', 'extensions'))
              AND t.typtype IN ('b', 'd', 'e', 'r', 'm') AND t.typisdefined AND t.typcategory NOT IN ('A', 'P', 'X')
              AND t.typname !~ '^(reg|pg_)'
            ORDER BY n.nspname = 'pg_catalog' DESC, n.nspname
            """, logger: logger
        ).decode((String, String, String, String?).self) {
            let type = CastType(
                sql: quoted(schema) + "." + quoted(name), arraySQL: arrayName.map { quoted(schema) + "." + quoted($0) })
            // pg_catalog's types come first and keep their spellings when another schema reuses one.
            for spelling in [name.lowercased(), printed.lowercased(), "\(schema).\(name)".lowercased()] where castTypes[spelling] == nil {
                castTypes[spelling] = type
            }
        }
        return SchemaCache(schemas: schemas, tables: tables, foreignKeys: foreignKeys, functions: functions, castTypes: castTypes)
    }
}
