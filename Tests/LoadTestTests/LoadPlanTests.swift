import Testing
@testable import LoadTest

/// The command line's text: durations, stages, rates, mixes and thresholds, good and bad.
@Suite("Load plan and thresholds")
struct LoadPlanTests {
    @Test("durations, stages and rates parse; nonsense is refused")
    func parsing() throws {
        #expect(try LoadPlanText.duration("500ms") == .milliseconds(500))
        #expect(try LoadPlanText.duration("30s") == .seconds(30))
        #expect(try LoadPlanText.duration("2m") == .seconds(120))
        #expect(try LoadPlanText.duration("1.5") == .milliseconds(1500))
        for bad in ["", "fast", "-3s", "10x"] { #expect(throws: LoadPlanText.Invalid.self) { try LoadPlanText.duration(bad) } }
        #expect(try LoadPlanText.stages("30s:100,60s:1000,30s:0") == [
            .init(duration: .seconds(30), target: 100), .init(duration: .seconds(60), target: 1000), .init(duration: .seconds(30), target: 0),
        ])
        for bad in ["", "30s", "30s:-1", "x:10", "30s:10:3"] { #expect(throws: LoadPlanText.Invalid.self) { try LoadPlanText.stages(bad) } }
        #expect(try LoadPlanText.rate("2000/s") == 2000)
        #expect(try LoadPlanText.rate("600/m") == 10)
        for bad in ["0/s", "fast", "10/h"] { #expect(throws: LoadPlanText.Invalid.self) { try LoadPlanText.rate(bad) } }
        #expect(try Mix(parsing: "home=3,like=1").weights == [.home: 3, .like: 1])
        for bad in ["home", "home=-1", "dance=3", "home=0"] { #expect(throws: LoadPlanText.Invalid.self) { try Mix(parsing: bad) } }
    }

    @Test("stages ramp linearly from zero; --vus holds from the start")
    func ramps() throws {
        let plan = LoadPlan(stages: try LoadPlanText.stages("10s:100,10s:1000,10s:0"))
        #expect(plan.users(at: .zero) == 0)
        #expect(plan.users(at: .seconds(5)) == 50)
        #expect(plan.users(at: .seconds(15)) == 550)
        #expect(plan.users(at: .seconds(25)) == 500)
        #expect(plan.users(at: .seconds(31)) == 0)
        #expect(plan.duration == .seconds(30))
        #expect(plan.peakUsers == 1000)
        let constant = LoadPlan(stages: [.init(duration: .seconds(60), target: 100)], startsAtZero: false)
        #expect(constant.users(at: .zero) == 100)
        #expect(constant.users(at: .seconds(59)) == 100)
    }

    @Test("the mix picks by weight")
    func mix() {
        let mix = Mix(weights: [.home: 1, .post: 3])
        #expect(mix.pick(0.1) == .home)
        #expect(mix.pick(0.3) == .post)
        #expect(mix.pick(0.999) == .post)
        let picks = (0..<10_000).map { _ in Mix().pick(Double.random(in: 0..<1)) }
        let homeShare = Double(picks.filter { $0 == .home }.count) / 10_000
        #expect(abs(homeShare - 0.55) < 0.03)
    }

    @Test("thresholds in k6's syntax parse and judge; bad ones are refused with a reason")
    func thresholds() throws {
        let p95 = try Threshold(parsing: "http_req_duration{scenario:home}:p(95)<250")
        #expect(p95.metric == "http_req_duration")
        #expect(p95.tags == ["scenario": "home"])
        #expect(p95.aggregate == .percentile(95))
        #expect(p95.holds(for: 249.9) && !p95.holds(for: 250))
        let failed = try Threshold(parsing: "http_req_failed:rate<0.02")
        #expect(failed.aggregate == .rate && failed.bound == 0.02)
        let cache = try Threshold(parsing: "cache_hit_rate > 0.7")
        #expect(cache.comparison == .greater && cache.holds(for: 0.71))
        let connections = try Threshold(parsing: "db_connections:max<=100")
        #expect(connections.comparison == .lessOrEqual && connections.holds(for: 100))
        for text in Threshold.defaults { _ = try Threshold(parsing: text) }
        for bad in ["http_req_duration", "latency<3", "http_req_duration:p(101)<3", "http_req_duration{user:x}:p(95)<3", "cache_hit_rate>high"] {
            #expect(throws: LoadPlanText.Invalid.self) { try Threshold(parsing: bad) }
        }
    }

    @Test("the server's database connections are read from /metrics")
    func metricsParsing() {
        let text = """
            # TYPE feedfusion_db_pool_connections gauge
            feedfusion_db_pool_connections{state="in_use"} 7.0
            feedfusion_db_pool_connections{state="waiting"} 30.0
            feedfusion_db_pool_connections{state="idle"} 5.0
            """
        #expect(LoadRunner.databaseConnections(inMetrics: text) == 12)
        // The database's own count wins where the server gives it.
        #expect(LoadRunner.databaseConnections(inMetrics: text + "\nfeedfusion_db_connections 9.0\n") == 9)
    }
}
