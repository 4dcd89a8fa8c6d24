import AppConfig
import Foundation
import Synchronization
import HummingbirdTesting
import LoadTest
import Testing
import TestSupport

/// `feedfusion verify --url`'s live checks against a running server: the limits fire where
/// configured (in a bucket of the verifier's own), /metrics is protected.
@Suite("verify --url against a live server")
struct ServerAuditTests {
    func audit(
        restLimit: Int, claimedRestLimit: Int? = nil, enabled: Bool = true
    ) async throws -> [String: (status: String, evidence: [String])] {
        let token = "metrics-token-0123456789"
        let result = Mutex<[String: (status: String, evidence: [String])]>([:])
        try await RestWorld.run(mode: .live, configure: {
            $0.rateLimits.restPerMinute = restLimit
            $0.rateLimits.authPerMinute = 3
            $0.rateLimits.enabled = enabled
            $0.observability.metricsToken = token
        }) { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
            let port = try #require(rest.client.port)
            let target = LoadTarget(
                baseURL: "http://127.0.0.1:\(port)", anonKey: rest.apiKey, serviceKey: try await RestTestClient.serviceKey(),
                metricsToken: token)
            let checks = await ServerAudit(
                target: target, rest: .init(enabled: enabled, perMinute: claimedRestLimit ?? restLimit, burst: nil),
                auth: .init(enabled: enabled, perMinute: 3, burst: nil)
            ).run()
            result.withLock { $0 = Dictionary(uniqueKeysWithValues: checks.map { ($0.name, ($0.status.rawValue, $0.evidence)) }) }
        }
        return result.withLock { $0 }
    }

    @Test("limits as configured pass, with their headers; /metrics is protected")
    func passes() async throws {
        let checks = try await audit(restLimit: 5)
        #expect(checks["rate_limit_rest"]?.status == "PASS", "\(String(describing: checks["rate_limit_rest"]))")
        #expect(checks["rate_limit_auth"]?.status == "PASS", "\(String(describing: checks["rate_limit_auth"]))")
        #expect(checks["metrics"]?.status == "PASS")
        #expect(checks["transport_security"] == nil)  // loopback: no transport hints
    }

    @Test("a limit that is not the one configured fails with the evidence; limits off fail")
    func failures() async throws {
        let wrong = try await audit(restLimit: 6, claimedRestLimit: 4)
        #expect(wrong["rate_limit_rest"]?.status == "FAIL")
        #expect(wrong["rate_limit_rest"]?.evidence.isEmpty == false)
        let off = try await audit(restLimit: 5, enabled: false)
        #expect(off["rate_limit_rest"]?.status == "FAIL")
    }
}
