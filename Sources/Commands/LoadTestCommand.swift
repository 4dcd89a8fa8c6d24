import AppConfig
import ArgumentParser
import Auth
import Foundation
import LoadTest

/// `feedfusion loadtest`: drives a running FeedFusion like k6 and exits 99 when a threshold fails.
struct LoadTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest",
        abstract: "Load-test a running FeedFusion with seeded users; exit 99 when a threshold fails (as k6 does).")

    @Option(help: "The server (default: this configuration's API URL). Only loopback unless --allow-remote.")
    var url: String?
    @Option(help: "Virtual users (closed model), held for --duration.")
    var vus = 100
    @Option(help: "How long, e.g. 60s, 2m.")
    var duration = "60s"
    @Option(help: "Ramp stages instead of --vus/--duration, e.g. 30s:100,60s:1000,30s:0.")
    var stages: String?
    @Option(help: "Open model: requests started per second (e.g. 2000/s), latency from each intended start.")
    var rate: String?
    @Option(help: "Open model: most requests in flight; beyond it iterations are dropped (counted).")
    var maxInFlight = 1000
    @Option(help: "Pause between a virtual user's requests (randomised ±50 %), e.g. 1s, 0s.")
    var think = "1s"
    @Option(help: "Operation weights, e.g. home=55,profile=15,entity=10,nearby=5,post=5,like=5,follow=3,events=2.")
    var mix: String?
    @Option(help: "Anonymous virtual users reading public feeds beside the signed-in ones.")
    var anonVus = 0
    @Option(help: "Seeded users signed in (shared round-robin when fewer than the virtual users); default one per virtual user, as many as the file lists.")
    var sessions: Int?
    @Option(help: "The users file `feedfusion seed` wrote (default: <DATA_DIR>/seed-users.json).")
    var usersFile: String?
    @Option(help: "Bearer token for /metrics (default: METRICS_TOKEN); needed for db_connections.")
    var metricsToken: String?
    @Option(name: .customLong("threshold"), help: "A k6-style threshold (repeatable); the product's targets when none is given.")
    var thresholds: [String] = []
    @Option(help: "Write the posts the server acknowledged (create_post answered 200), one per line as `<id> <unix seconds sent> <unix seconds answered>`, to this file.")
    var acknowledgedPosts: String?
    @Option(help: "Write every figure as JSON to this file.")
    var summaryJSON: String?
    @Flag(help: "Allow a target that is not this machine.")
    var allowRemote = false

    func run() async throws {
        let settings = try await Settings.load()
        var plan: LoadPlan
        do {
            if let stages {
                plan = LoadPlan(stages: try LoadPlanText.stages(stages))
            } else {
                guard vus >= 1 else { throw ValidationError("--vus must be at least 1") }
                plan = LoadPlan(stages: [.init(duration: try LoadPlanText.duration(duration), target: vus)], startsAtZero: false)
            }
            guard plan.duration > .zero, plan.duration <= .seconds(86_400) else { throw ValidationError("the run must last between 1 s and a day") }
            plan.rate = try rate.map(LoadPlanText.rate)
            plan.maxInFlight = max(1, maxInFlight)
            plan.thinkTime = try LoadPlanText.duration(think)
            plan.mix = try mix.map(Mix.init(parsing:)) ?? Mix()
            plan.anonymousUsers = max(0, anonVus)
        } catch let error as LoadPlanText.Invalid {
            throw ValidationError(error.description)
        }
        let judged: [Threshold]
        do {
            judged = try (thresholds.isEmpty ? Threshold.defaults : thresholds).map(Threshold.init(parsing:))
        } catch let error as LoadPlanText.Invalid {
            throw ValidationError(error.description)
        }

        let keys = try await apiKeys(settings)
        let target = LoadTarget(
            baseURL: url ?? settings.externalURL, anonKey: keys.anon, serviceKey: keys.serviceRole,
            metricsToken: metricsToken ?? settings.observability.metricsToken)
        guard target.isLoopback || allowRemote else {
            throw ValidationError("\(target.baseURL) is not this machine: pass --allow-remote to load-test another host")
        }
        let file = URL(fileURLWithPath: usersFile ?? settings.dataDirectory.appendingPathComponent("seed-users.json").path)
        let (password, users): (String, [LoadUser])
        do {
            (password, users) = try LoadUser.load(from: file)
        } catch {
            throw ValidationError("cannot read the seeded users from \(file.path): run feedfusion seed first (\(error))")
        }
        guard !users.isEmpty else { throw ValidationError("\(file.path) lists no users") }

        let runner = LoadRunner(
            plan: plan, target: target, users: users, password: password,
            sessions: sessions ?? max(plan.peakUsers, 1)
        ) { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        let report = try await runner.run()
        let results = report.judge(judged)
        print(report.summary(results))
        let document = try report.json(results)
        if let summaryJSON {
            try document.write(to: URL(fileURLWithPath: summaryJSON))
        }
        // The last run's figures where the dashboard's Readiness page finds them (best effort: a
        // data folder that is not writable here only means the page shows none).
        try? document.write(to: settings.lastLoadTestSummary, options: .atomic)
        if let acknowledgedPosts {
            try runner.recorder.acknowledgedPosts.map { "\($0.id) \(String(format: "%.3f %.3f", $0.sent, $0.answered))\n" }.joined().write(toFile: acknowledgedPosts, atomically: true, encoding: .utf8)
        }
        if results.contains(where: { !$0.passed }) {
            throw ExitCode(99)
        }
    }
}
