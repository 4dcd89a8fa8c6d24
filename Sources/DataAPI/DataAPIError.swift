import PostgresNIO

/// An error of the data API in PostgREST's terms: HTTP status, a string `code`, and message,
/// details and hint as the clients read them.
public struct DataAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String
    public let details: String?
    public let hint: String?

    public init(status: Int, code: String, message: String, details: String? = nil, hint: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
    }

    public var description: String { "\(status) \(code): \(message)" }

    static func grammar(_ error: GrammarError) -> DataAPIError {
        DataAPIError(status: 400, code: "PGRST100", message: error.message, details: error.details)
    }

    static func unknownTable(_ name: String, schema: String) -> DataAPIError {
        DataAPIError(
            status: 404, code: "PGRST205", message: "Could not find the table '\(schema).\(name)' in the schema cache")
    }

    static func unknownColumn(_ column: String, table: String) -> DataAPIError {
        DataAPIError(status: 400, code: "PGRST204", message: "Could not find the '\(column)' column of '\(table)' in the schema cache")
    }

    static func badBody(_ message: String) -> DataAPIError {
        DataAPIError(status: 400, code: "PGRST102", message: message)
    }

    /// What the answer's statement raises when the answer is bigger than `DB_MAX_RESPONSE_BYTES`,
    /// its size in DETAIL (`internal.refuse_answer`, migration 0038).
    static let tooLargeSQLState = "FF413"

    /// What a write's answer raises when one object was asked for and it wrote `DETAIL` rows.
    static let notSingleSQLState = "FF406"

    /// One object was asked for (`Accept: application/vnd.pgrst.object+json`) and there are `count` rows.
    static func notSingle(count: Int) -> DataAPIError {
        DataAPIError(
            status: 406, code: "PGRST116", message: "JSON object requested, multiple (or no) rows returned",
            details: "The result contains \(count) rows")
    }

    /// The answer is bigger than `DB_MAX_RESPONSE_BYTES`.
    static func tooLarge(_ size: Int, limit: Int) -> DataAPIError {
        DataAPIError(
            status: 413, code: "PGRST413", message: "The response is too large",
            details: "The answer has \(size) bytes; this server sends at most \(limit) (DB_MAX_RESPONSE_BYTES).",
            hint: "Select fewer columns or embeds, or page with limit and offset.")
    }

    /// No pooled connection became free in time (PostgREST's PGRST003): all busy, or the database away.
    static let poolTimeout = DataAPIError(
        status: 504, code: "PGRST003", message: "Timed out acquiring connection from connection pool.")

    /// Maps a PostgreSQL error as PostgREST does; `anonymous` decides 401 or 403 for privilege errors.
    /// An error without a SQLSTATE happened on the way to the server (connection refused or lost):
    /// 503, as PostgREST answers when it cannot reach the database.
    public static func from(_ error: PSQLError, anonymous: Bool) -> DataAPIError {
        guard let sqlState = error.serverInfo?[.sqlState] else {
            return DataAPIError(status: 503, code: "PGRST000", message: "Could not connect with the database.")
        }
        let message = error.serverInfo?[.message] ?? "database error"
        // PostGIS reports a geometry it cannot parse ("parse error - invalid geometry", "geometry
        // requires more points") as XX000 from its error hook: the client's input, not a server fault.
        if sqlState == "XX000", let file = error.serverInfo?[.file], postGISInputSources.contains(file) {
            return DataAPIError(
                status: 400, code: "22P02", message: message, details: error.serverInfo?[.detail],
                hint: error.serverInfo?[.hint] ?? "Give a point as WKT (POINT(lng lat)), EWKT or hex WKB.")
        }
        return DataAPIError(
            status: httpStatus(sqlState: sqlState, anonymous: anonymous), code: sqlState, message: message,
            details: error.serverInfo?[.detail], hint: error.serverInfo?[.hint])
    }

    /// PostGIS's sources that report unparsable geometry input (its error hook and the input functions).
    static let postGISInputSources: Set<String> = ["lwgeom_pg.c", "lwgeom_inout.c", "geography_inout.c", "gserialized_typmod.c"]

    static func httpStatus(sqlState: String, anonymous: Bool) -> Int {
        if sqlState.hasPrefix("PT"), let status = Int(sqlState.dropFirst(2)), (100...599).contains(status) { return status }
        switch sqlState {
        case "23505", "23503", "23P01": return 409
        case "42501": return anonymous ? 401 : 403
        case "42883", "42P01": return 404
        case "57014": return 500
        case "57P01", "57P02", "57P03": return 503  // the server shutting down or starting: retry in a moment
        case "25006": return 405
        case "53400": return 500
        case "P0001": return 400  // RAISE EXCEPTION: the function refusing its input
        case "42P17": return 500  // infinite recursion in a policy
        default:
            let sqlClass = sqlState.prefix(2)
            if sqlClass == "08" || sqlClass == "53" { return 503 }  // connection lost; out of resources
            // The server's or a function's own failure, not the request's.
            if ["09", "25", "2D", "38", "39", "3B", "40", "54", "55", "57", "58", "F0", "HV", "P0", "XX"].contains(sqlClass) {
                return 500
            }
            if sqlClass == "0L" || sqlClass == "0P" || sqlClass == "28" { return 403 }
            return 400
        }
    }
}
