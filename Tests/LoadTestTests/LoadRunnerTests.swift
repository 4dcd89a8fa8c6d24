import Foundation
import Testing
import TestSupport
@testable import LoadTest

/// The generator against a live stub server: it stops at its duration, thresholds pass and fail
/// as they should, and the open model measures a stall instead of hiding it.
@Suite("Load runner", .serialized)
struct LoadRunnerTests {
    static let users = (0..<20).map { LoadUser(id: UUID().uuidString.lowercased(), email: "u\($0)@example.com") }

    func run(_ plan: LoadPlan, on stub: StubServer) async throws -> LoadReport {
        let runner = LoadRunner(
            plan: plan, target: LoadTarget(baseURL: stub.url, anonKey: "anon", metricsToken: "token"), users: Self.users,
            password: "pw", sessions: 5
        ) { _ in }
        return try await runner.run()
    }

    @Test("a closed-model run stops at its duration; a slowed route fails its latency threshold")
    func closedModel() async throws {
        let stub = try await StubServer()
        defer { stub.stop() }
        stub.state.delays.withLock { $0["feed_fusion_profile"] = .milliseconds(300) }
        var plan = LoadPlan(stages: [.init(duration: .seconds(2), target: 20)], startsAtZero: false)
        plan.thinkTime = .milliseconds(20)
        let started = ContinuousClock.now
        let report = try await run(plan, on: stub)
        let took = ContinuousClock.now - started
        #expect(took >= .seconds(2) && took < .seconds(4), "took \(took)")
        #expect(report.requests > 100)
        #expect(report.failed == 0)
        #expect(report.peakConnections == 7)
        let rate = try #require(report.cacheHitRate)
        #expect(abs(rate - 0.75) < 0.05)
        // Why: every answer's kind, from its Cache-Status detail (none: the viewer's own page).
        var kinds: [String: Double] = [:]
        let answered = report.answerKindsByScenario.keys.reduce(0) { $0 + Double(report.latencyByScenario[$1]?.count ?? 0) }
        for (scenario, shares) in report.answerKindsByScenario {
            #expect(abs(shares.values.reduce(0, +) - 1) < 1e-9, "\(scenario)")
            let weight = Double(report.latencyByScenario[scenario]?.count ?? 0) / answered
            for (kind, share) in shares { kinds[kind, default: 0] += share * weight }
        }
        #expect(Set(kinds.keys) == ["hit/shared", "hit/own", "miss/own"])
        // Each scenario's share answered without the database, weighted: the stub's three hits in four.
        let withoutDatabase = report.noDatabaseRateByScenario.reduce(0) {
            $0 + $1.value * Double(report.latencyByScenario[$1.key]?.count ?? 0) / answered
        }
        #expect(abs(withoutDatabase - 0.75) < 0.05, "\(report.noDatabaseRateByScenario)")
        #expect(abs((kinds["hit/shared"] ?? 0) - 0.25) < 0.05 && abs((kinds["hit/own"] ?? 0) - 0.5) < 0.05, "\(kinds)")
        #expect(LoadRunner.detail(ofCacheStatus: "FeedFusion; fwd=miss; detail=shared-followers") == "shared-followers")
        #expect(LoadRunner.detail(ofCacheStatus: "FeedFusion; hit; ttl=3") == nil)
        let results = report.judge(try [
            "http_req_duration{scenario:home}:p(95)<250", "http_req_duration{scenario:profile}:p(95)<250",
            "http_req_failed:rate<0.02", "cache_hit_rate>0.7", "db_connections:max<100",
        ].map(Threshold.init(parsing:)))
        #expect(results.map(\.passed) == [true, false, true, true, true])
        let profile = try #require(results[1].value)
        #expect(profile >= 300)
        // Every figure is in the JSON summary.
        let json = try #require(try JSONSerialization.jsonObject(with: report.json(results)) as? [String: Any])
        for key in ["thresholds", "passed", "http_reqs", "http_req_failed_rate", "cache_hit_rate", "db_connections_max",
                    "http_req_duration", "http_req_duration_by_scenario", "generator_cpu", "iterations_dropped",
                    "feed_answers_by_scenario"] {
            #expect(json[key] != nil, "\(key)")
        }
        #expect(json["passed"] as? Bool == false)
    }

    @Test("the open model times requests from their intended start: a 1 s stall shows in the latencies")
    func noCoordinatedOmission() async throws {
        let stub = try await StubServer()
        defer { stub.stop() }
        var plan = LoadPlan(stages: [.init(duration: .seconds(3), target: 1)], startsAtZero: false)
        plan.rate = 100
        plan.maxInFlight = 500
        plan.mix = Mix(weights: [.home: 1])
        // From 1 s into the run the server answers nothing for a second.
        Task {
            try await Task.sleep(for: .milliseconds(1000))
            stub.state.stalledUntil.withLock { $0 = .now + .seconds(1) }
        }
        let report = try await run(plan, on: stub)
        let latency = try #require(report.latency)
        // About 300 arrivals; a third fall in the stall and wait up to a second from their intended start.
        #expect(report.requests >= 250 && report.requests <= 310, "\(report.requests)")
        #expect(report.droppedIterations == 0)
        #expect(latency.max >= 900, "max \(latency.max)")
        #expect(latency.p90 >= 500, "p90 \(latency.p90)")
        #expect(latency.med < 100, "median \(latency.med)")
    }
}

/// `feedfusion loadtest` as an operator runs it: exit 0 when the thresholds hold, 99 when one fails.
@Suite("feedfusion loadtest", .serialized)
struct LoadTestCommandTests {
    func loadtest(_ arguments: [String], stub: StubServer?) async throws -> (CommandRunner.Outcome, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loadtest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let users = #"{"password":"pw","users":[{"id":"00000000-0000-0000-0000-000000000001","email":"a@example.com"}]}"#
        try Data(users.utf8).write(to: directory.appendingPathComponent("users.json"))
        let outcome = try await CommandRunner.run(
            ["loadtest", "--users-file", "users.json", "--summary-json", "summary.json"]
                + (stub.map { ["--url", $0.url] } ?? []) + arguments,
            environment: ["JWT_SECRET": String(repeating: "k", count: 40), "DATA_DIR": directory.path, "METRICS_TOKEN": "0123456789abcdef0123"],
            workingDirectory: directory, timeout: .seconds(60))
        return (outcome, directory)
    }

    @Test("thresholds decide the exit code: 0 when they hold, 99 when a slowed route breaks one")
    func exitCodes() async throws {
        let stub = try await StubServer()
        defer { stub.stop() }
        stub.state.delays.withLock { $0["feed_fusion_home"] = .milliseconds(200) }
        let common = ["--vus", "5", "--duration", "2s", "--think", "10ms", "--mix", "home=1"]
        let (passing, directory) = try await loadtest(common + ["--threshold", "http_req_duration{scenario:home}:p(95)<2000"], stub: stub)
        #expect(passing.status == 0, "\(passing.standardError)")
        #expect(passing.standardOutput.contains("✓ http_req_duration{scenario:home}:p(95)<2000"))
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("summary.json"))) as? [String: Any])
        #expect(summary["passed"] as? Bool == true)
        #expect((summary["http_reqs"] as? Int ?? 0) > 10)

        let (failing, _) = try await loadtest(common + ["--threshold", "http_req_duration{scenario:home}:p(95)<100"], stub: stub)
        #expect(failing.status == 99)
        #expect(failing.standardOutput.contains("✗ http_req_duration{scenario:home}:p(95)<100"))
    }

    @Test("bad options and remote targets are refused before any request")
    func refusals() async throws {
        let (remote, _) = try await loadtest(["--url", "http://example.com", "--duration", "1s"], stub: nil)
        #expect(remote.status != 0 && remote.status != 99)
        #expect(remote.standardError.contains("--allow-remote"))
        let (threshold, _) = try await loadtest(["--url", "http://127.0.0.1:9", "--threshold", "latency<3"], stub: nil)
        #expect(threshold.status != 0 && threshold.standardError.contains("threshold 'latency<3'"))
        let (stages, _) = try await loadtest(["--url", "http://127.0.0.1:9", "--stages", "30s"], stub: nil)
        #expect(stages.status != 0 && stages.standardError.contains("stage"))
    }
}
