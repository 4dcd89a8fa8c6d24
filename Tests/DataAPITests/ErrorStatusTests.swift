@testable import DataAPI
import Testing

/// SQLSTATEs become HTTP statuses as PostgREST maps them (its "HTTP Status Codes" table; PTxyz → xyz).
@Suite("SQLSTATE to HTTP status")
struct ErrorStatusTests {
    @Test("the table", arguments: [
        ("08006", 503), ("08001", 503), ("53300", 503), ("53200", 503), ("53400", 500), ("54001", 500),
        ("57014", 500), ("XX000", 500), ("58030", 500), ("55P03", 500),
        ("23505", 409), ("23503", 409), ("25006", 405), ("42883", 404), ("42P01", 404),
        ("28000", 403), ("0P000", 403), ("P0001", 400), ("22P02", 400), ("23502", 400),
        ("PT429", 429), ("PT402", 402),
        ("09000", 500), ("25P02", 500), ("2D000", 500), ("38001", 500), ("39P01", 500), ("3B000", 500),
        ("40003", 500), ("F0000", 500), ("HV000", 500), ("P0002", 500), ("P0004", 500), ("42P17", 500),
        ("40001", 500), ("40P01", 500), ("23P01", 409), ("42703", 400),
    ])
    func status(sqlState: String, status: Int) {
        #expect(DataAPIError.httpStatus(sqlState: sqlState, anonymous: false) == status)
    }

    @Test("insufficient privilege: 401 for anon, 403 when signed in")
    func privilege() {
        #expect(DataAPIError.httpStatus(sqlState: "42501", anonymous: true) == 401)
        #expect(DataAPIError.httpStatus(sqlState: "42501", anonymous: false) == 403)
    }

    @Test("no connection in time is PostgREST's 504 PGRST003")
    func poolTimeout() {
        #expect(DataAPIError.poolTimeout.status == 504)
        #expect(DataAPIError.poolTimeout.code == "PGRST003")
    }
}
