import Database
import Logging
import PostgresNIO

/// One line of the readiness report: what was checked, how it came out, and the evidence.
public struct ReadinessCheck: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable, Comparable {
        case pass = "PASS", warn = "WARN", fail = "FAIL"

        public static func < (lhs: Status, rhs: Status) -> Bool {
            let order: [Status] = [.pass, .warn, .fail]
            return order.firstIndex(of: lhs)! < order.firstIndex(of: rhs)!
        }
    }

    public let name: String
    public let status: Status
    public let summary: String
    /// What made it fail or warn: table names, function signatures, grants…
    public let evidence: [String]

    public init(name: String, status: Status, summary: String, evidence: [String] = []) {
        self.name = name
        self.status = status
        self.summary = summary
        self.evidence = evidence
    }

    /// PASS when `offenders` is empty, otherwise `failing` with them as evidence.
    static func expectingNone(_ name: String, _ offenders: [String], passing: String, failing: String) -> ReadinessCheck {
        offenders.isEmpty
            ? ReadinessCheck(name: name, status: .pass, summary: passing)
            : ReadinessCheck(name: name, status: .fail, summary: failing, evidence: offenders)
    }
}

/// The first column of every row of `query`, as text: the offenders a check lists.
func strings(_ connection: PostgresConnection, _ logger: Logger, _ query: PostgresQuery) async throws -> [String] {
    var rows: [String] = []
    for try await row in try await connection.query(query, logger: logger).decode(String.self) { rows.append(row) }
    return rows
}
