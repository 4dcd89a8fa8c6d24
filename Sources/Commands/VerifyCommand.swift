import AppConfig
import ArgumentParser
import Auth
import Database
import DatabaseReadiness
import Foundation
import LoadTest
import Logging
import PostgresNIO
import Redis

/// `feedfusion verify`: a readiness report, each check PASS / WARN / FAIL with its evidence, and a
/// non-zero exit on any FAIL. It audits the database's security rules (RLS, SECURITY DEFINER
/// hygiene, client-role privileges, anon policies), the telemetry partitions and retention, the
/// cache hit rate recorded in rpc_observations, connections, statement timeout and feed indexes,
/// whether errors reach a tracker, whether a configured Redis answers, and with `--url` the running server: its rate limits fired in a
/// throwaway bucket, /metrics, and transport security when it is not on this machine.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check production readiness; exits 1 when a check fails.")

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    @Option(help: "A running server to check live as well: rate limits, /metrics, transport security.")
    var url: String?

    func run() async throws {
        let settings = try await Settings.load()
        let logger = makeLogger(settings)
        let database = try await DatabaseTarget.open(settings, logger: logger)
        let client = PostgresClient(configuration: .init(url: database.url, poolSize: 1), backgroundLogger: logger)
        let checks: [ReadinessCheck]
        do {
            checks = try await withRunningClient(client) { client in
                try await client.withConnection { connection in
                    try await DatabaseReadiness.run(on: connection, settings: settings, logger: logger)
                } + [await Self.requestRoleCheck(settings, owner: database.url, logger: logger)]
                    + [await Self.poolingCheck(settings, owner: database.url, logger: logger)]
                    + ConfigurationAudit.run(settings) + [await Self.redisCheck(settings)] + (await liveChecks(settings))
            }
        } catch {
            await database.stopManagedServer()
            throw error
        }
        await database.stopManagedServer()
        let failed = checks.contains { $0.status == .fail }
        if json {
            struct Report: Encodable {
                let ok: Bool
                let checks: [ReadinessCheck]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(Report(ok: !failed, checks: checks)), as: UTF8.self))
        } else {
            for check in checks {
                print("\(check.status.rawValue)  \(check.name): \(check.summary)")
                for item in check.evidence { print("      - \(item)") }
            }
            print(failed ? "not ready: \(checks.filter { $0.status == .fail }.count) check(s) failed" : "ready")
        }
        if failed { throw ExitCode(1) }
    }

    /// The role requests would run on, set up as `serve` sets it up, then asked who it is: a superuser
    /// or a BYPASSRLS role would make Row Level Security optional, and a role that can become more
    /// than anon, authenticated and service_role could do more than any caller.
    /// Which pooling each pool meets, and whether the server works through it (`PoolingAudit`).
    static func poolingCheck(_ settings: Settings, owner: DatabaseURL, logger: Logger) async -> ReadinessCheck {
        do {
            let requests = await RequestRole.requestURL(
                owner: owner, configured: settings.databaseAuthenticatorURL, jwtSecret: try settings.resolvedJWTSecret(), logger: logger)
            let finding = try await PoolingAudit.probe(requests: requests, owner: owner, logger: logger)
            return PoolingAudit.check(finding, configured: settings.databasePreparedStatements)
        } catch {
            return ReadinessCheck(name: "pooling", status: .fail, summary: "could not probe the pools: \(error)")
        }
    }

    static func requestRoleCheck(_ settings: Settings, owner: DatabaseURL, logger: Logger) async -> ReadinessCheck {
        let name = "request_role"
        do {
            let url = await RequestRole.requestURL(
                owner: owner, configured: settings.databaseAuthenticatorURL, jwtSecret: try settings.resolvedJWTSecret(),
                logger: logger)
            let client = PostgresClient(configuration: .init(url: url, poolSize: 1), backgroundLogger: logger)
            let found = try await withRunningClient(client) { client -> (String, Bool, Bool, [String])? in
                try await client.withConnection { connection -> (String, Bool, Bool, [String])? in
                    let rows = try await connection.query(
                        """
                        SELECT r.rolname::text, r.rolsuper, r.rolbypassrls,
                               coalesce((SELECT array_agg(g.rolname::text ORDER BY g.rolname) FROM pg_auth_members m
                                         JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '{}')
                        FROM pg_roles r WHERE r.rolname = current_user
                        """, logger: logger)
                    for try await row in rows.decode((String, Bool, Bool, [String]).self) { return row }
                    return nil
                }
            }
            guard let (role, superuser, bypassRLS, memberOf) = found else {
                return ReadinessCheck(name: name, status: .fail, summary: "the request role \(url.username) is not in pg_roles")
            }
            var problems: [String] = []
            if superuser { problems.append("\(role) is a superuser") }
            if bypassRLS { problems.append("\(role) has BYPASSRLS") }
            let extra = Set(memberOf).subtracting(DatabaseRole.allCases.map(\.rawValue))
            if !extra.isEmpty { problems.append("\(role) can also become \(extra.sorted().joined(separator: ", "))") }
            guard problems.isEmpty else {
                return ReadinessCheck(
                    name: name, status: .fail,
                    summary: "requests would run as \(role), which Row Level Security does not bind: "
                        + "give the owner CREATEROLE (the server then sets up authenticator) or set DATABASE_AUTHENTICATOR_URL",
                    evidence: problems)
            }
            return ReadinessCheck(
                name: name, status: .pass,
                summary: "requests run as \(role): no superuser, no BYPASSRLS, and it can only become \(memberOf.joined(separator: ", "))")
        } catch {
            return ReadinessCheck(name: name, status: .fail, summary: "cannot connect as the request role: \(failureMessage(for: error))")
        }
    }

    /// Redis is for running several instances: without it each one limits and caches on its own, which
    /// is right for one instance. Configured but not answering, the instances fall back to that.
    static func redisCheck(_ settings: Settings) async -> ReadinessCheck {
        guard let endpoint = settings.redis else {
            return ReadinessCheck(
                name: "redis", status: .pass,
                summary: "no REDIS_URL: rate limits and the feed cache are per instance (set it before running more than one)")
        }
        let where_ = "\(endpoint.host):\(endpoint.port)"
        do {
            let connection = try await RedisConnection.connect(to: endpoint, timeout: .seconds(1))
            defer { connection.close() }
            let reply = try await connection.send(["PING"], timeout: .seconds(1))
            guard reply.string == "PONG" else { throw RedisError.unexpectedReply("\(reply)") }
            return ReadinessCheck(
                name: "redis", status: .pass, summary: "Redis at \(where_) answers: rate limits and cached feed answers are shared by every instance")
        } catch {
            return ReadinessCheck(
                name: "redis", status: .warn,
                summary: "REDIS_URL is set but Redis at \(where_) does not answer (\(error)): each instance limits and caches on its own until it does")
        }
    }

    /// With `--url`: the server's limits and /metrics, probed over HTTP.
    func liveChecks(_ settings: Settings) async -> [ReadinessCheck] {
        guard let url else { return [] }
        do {
            let keys = try await apiKeys(settings)
            let target = LoadTarget(
                baseURL: url, anonKey: keys.anon, serviceKey: keys.serviceRole, metricsToken: settings.observability.metricsToken)
            let limits = settings.rateLimits
            return await ServerAudit(
                target: target, rest: .init(enabled: limits.enabled, perMinute: limits.restPerMinute, burst: limits.restBurst),
                auth: .init(enabled: limits.enabled, perMinute: limits.authPerMinute, burst: limits.authBurst)
            ).run()
        } catch {
            return [ReadinessCheck(name: "server", status: .fail, summary: "cannot check \(url): \(failureMessage(for: error))")]
        }
    }
}
