import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

@Suite("Auth under concurrent sign-ins")
struct AuthConcurrencyTests {
    @Test("50 parallel sign-ins at bcrypt cost 10 all succeed while /health keeps answering")
    func parallelSignIns() async throws {
        let database = try await TestDatabase.migrated()
        let app = try await TestApp.make(url: database.url) { $0.auth.bcryptCost = 10 }
        let key = try await app.apiKey(.anon)
        try await app.application.test(.ahc(.http)) { client in
            let auth = AuthTestClient(client: client, apiKey: key)
            #expect(try await auth.signUp("crowd@example.com", "correct horse battery").status == .ok)

            let (statuses, healthLatency) = try await withThrowingTaskGroup(of: HTTPResponse.Status?.self) { group in
                for _ in 0..<50 {
                    group.addTask { try await auth.signIn("crowd@example.com", "correct horse battery").status }
                }
                // While the sign-ins hash on the thread pool, the event loops must stay free. The
                // probe uses its own connection: the test client's pool is busy with the sign-ins.
                try await Task.sleep(for: .milliseconds(50))
                let started = ContinuousClock.now
                let (_, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(client.port!)/health")!)
                let latency = ContinuousClock.now - started
                #expect((response as? HTTPURLResponse)?.statusCode == 200)
                var statuses: [HTTPResponse.Status] = []
                for try await status in group { if let status { statuses.append(status) } }
                return (statuses, latency)
            }
            #expect(statuses.count == 50)
            #expect(statuses.allSatisfy { $0 == .ok })
            #expect(healthLatency < .seconds(1), "/health took \(healthLatency) during the sign-ins")
        }
    }
}
