import AsyncHTTPClient
import Database
import FeedCache
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Runs a plan against a target: signs the users in, drives the virtual users (or the open-model
/// arrivals), samples the server's /metrics, prints a progress line, and stops at the plan's end.
public final class LoadRunner: Sendable {
    let plan: LoadPlan
    let target: LoadTarget
    let users: [LoadUser]
    let password: String
    let sessions: Int
    let progress: @Sendable (String) -> Void
    let httpClient: HTTPClient
    public let recorder = Recorder()
    private let peakConnections = Mutex<Int?>(nil)
    private let activeUsers = Atomic<Int>(0)
    /// Closed model: virtual users numbered below this keep going.
    private let wanted = Atomic<Int>(0)
    /// Open model: requests under way.
    private let inFlight = Atomic<Int>(0)
    /// Longest a request may take before it counts as failed.
    static let requestTimeout: TimeAmount = .seconds(30)

    public init(
        plan: LoadPlan, target: LoadTarget, users: [LoadUser], password: String, sessions: Int,
        progress: @escaping @Sendable (String) -> Void
    ) {
        self.plan = plan
        self.target = target
        self.users = users
        self.password = password
        self.sessions = max(1, min(sessions, users.count))
        self.progress = progress
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(plan.peakUsers + plan.anonymousUsers, plan.maxInFlight, 8))
        configuration.timeout = .init(connect: .seconds(5), read: Self.requestTimeout)
        httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    deinit { try? httpClient.syncShutdown() }

    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    public func run() async throws -> LoadReport {
        let tokens = try await signIn()
        let followers = users.allSatisfy { $0.followers != nil } ? users.map { $0.followers ?? 0 } : nil
        let world = LoadWorld(profiles: users.map(\.id), entities: await entities(), followers: followers)
        let cpuBefore = Self.cpuSeconds()
        let started = ContinuousClock.now
        let deadline = started + plan.duration
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.sampleMetrics(until: deadline) }
            group.addTask { await self.printProgress(started: started, until: deadline) }
            if let rate = plan.rate {
                group.addTask { await self.arrivals(rate: rate, tokens: tokens, world: world, started: started, until: deadline) }
            } else {
                group.addTask { await self.closedModel(tokens: tokens, world: world, started: started, until: deadline) }
            }
            if plan.anonymousUsers > 0 {
                group.addTask { await self.anonymousReaders(world: world, until: deadline) }
            }
        }
        let wall = ContinuousClock.now - started
        let cpu = Self.cpuSeconds() - cpuBefore
        try? await httpClient.shutdown()
        return LoadReport(
            recorder: recorder, plan: plan, wall: wall, peakConnections: peakConnections.withLock { $0 },
            generatorCPU: cpu / max(0.001, wall.seconds) / Double(ProcessInfo.processInfo.activeProcessorCount))
    }

    // MARK: Setup

    /// A signed-in seeded user.
    struct Session: Sendable {
        let userID: String
        let token: String
    }

    /// Signs in `sessions` users, eight at a time (bcrypt on the server is the slow part).
    func signIn() async throws -> [Session] {
        let chosen = Array(users.prefix(sessions))
        let tokens = await withTaskGroup(of: Session?.self) { group in
            var tokens: [Session] = []
            var next = 0
            func add() {
                guard next < chosen.count else { return }
                let user = chosen[next]
                next += 1
                group.addTask { await self.signIn(user).map { Session(userID: user.id, token: $0) } }
            }
            for _ in 0..<8 { add() }
            while let result = await group.next() {
                if let result { tokens.append(result) }
                add()
            }
            return tokens
        }
        guard !tokens.isEmpty else {
            throw SetupError(description: "no seeded user could sign in at \(target.baseURL) (run feedfusion seed against this server's database)")
        }
        if tokens.count < chosen.count { progress("signed in \(tokens.count) of \(chosen.count) users") }
        return tokens
    }

    func signIn(_ user: LoadUser) async -> String? {
        var request = HTTPClientRequest(url: "\(target.baseURL)/auth/v1/token?grant_type=password")
        request.method = .POST
        request.headers.add(name: "apikey", value: target.serviceKey ?? target.anonKey)
        request.headers.add(name: "Content-Type", value: "application/json")
        let body = try? JSONSerialization.data(withJSONObject: ["email": user.email, "password": password])
        request.body = .bytes(ByteBuffer(bytes: body ?? Data()))
        guard let response = try? await httpClient.execute(request, timeout: .seconds(60)), response.status == .ok,
            let bytes = try? await response.body.collect(upTo: 1 << 20),
            let object = try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]
        else { return nil }
        return object["access_token"] as? String
    }

    func entities() async -> [String] {
        var request = HTTPClientRequest(url: "\(target.baseURL)/rest/v1/entities?select=id&limit=500")
        request.headers.add(name: "apikey", value: target.anonKey)
        guard let response = try? await httpClient.execute(request, timeout: .seconds(10)),
            let bytes = try? await response.body.collect(upTo: 1 << 22),
            let rows = try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [[String: Any]]
        else { return [] }
        return rows.compactMap { $0["id"] as? String }
    }

    // MARK: Driving

    /// One request of `user`, recorded; latency from `intended` (the open model's scheduled start).
    func iterate(_ user: inout VirtualUser, _ chosen: Operation, world: LoadWorld, intended: ContinuousClock.Instant? = nil) async {
        let (request, operation) = user.request(chosen, world: world, target: target)
        let started = intended ?? .now
        var status = 0
        var cache: String?
        var cacheDetail: String?
        do {
            let response = try await httpClient.execute(request, timeout: Self.requestTimeout)
            status = Int(response.status.code)
            if let header = response.headers.first(name: "Cache-Status") {
                cache = header.contains("; hit") ? "hit" : header.contains("fwd=stale") ? "stale" : "miss"
                cacheDetail = Self.detail(ofCacheStatus: header)
            }
            let body = try await response.body.collect(upTo: 16 << 20)
            if operation == .home, status == 200 { user.read(homePage: body) }
            if operation == .post, status == 200,
                let id = FeedPageSlots.scan(body)?.rows.first?.id
            {
                recorder.acknowledge(post: id, sentAgo: .now - started)
            }
        } catch {
            status = Self.neverConnected(error) ? Recorder.notConnected : Recorder.noAnswer
            if status == Recorder.noAnswer { recorder.sample(unanswered: "\(operation.rawValue): \(error)") }
        }
        recorder.record(scenario: operation.rawValue, status: status, latency: .now - started, cache: cache, cacheDetail: cacheDetail)
    }

    /// The `detail` parameter of a `Cache-Status` value (RFC 9211), nil without one.
    static func detail(ofCacheStatus header: String) -> String? {
        header.split(separator: ";").lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("detail=") }.map { String($0.dropFirst("detail=".count)) }
    }

    /// Whether a failed request never reached the server (connection refused: nothing listening,
    /// as while a server restarts) rather than being sent and left without an answer.
    static func neverConnected(_ error: any Error) -> Bool {
        let text = String(describing: error)
        return text.contains("connectionRefused") || text.contains("ECONNREFUSED") || text.contains("Connection refused")
            || text.contains("connectTimeout") || text.contains("connectFailed")
    }

    func think() async {
        guard plan.thinkTime > .zero else { return }
        try? await Task.sleep(for: plan.thinkTime * Double.random(in: 0.5...1.5))
    }

    /// Closed model: the wanted number of virtual users over time, each looping request → think.
    func closedModel(tokens: [Session], world: LoadWorld, started: ContinuousClock.Instant, until deadline: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            while ContinuousClock.now < deadline {
                let target = plan.users(at: .now - started)
                wanted.store(target, ordering: .relaxed)
                activeUsers.store(min(running, target), ordering: .relaxed)
                // Virtual users whose number is past the wanted count stop after their request.
                while running < target {
                    let number = running
                    running += 1
                    group.addTask {
                        var user = VirtualUser(number: number, token: tokens[number % tokens.count].token, userID: tokens[number % tokens.count].userID)
                        while ContinuousClock.now < deadline, number < self.wanted.load(ordering: .relaxed) {
                            await self.iterate(&user, self.plan.mix.pick(Double.random(in: 0..<1)), world: world)
                            await self.think()
                        }
                    }
                }
                if running > target { running = target }
                try? await Task.sleep(for: .milliseconds(100))
            }
            wanted.store(0, ordering: .relaxed)
            activeUsers.store(0, ordering: .relaxed)
        }
    }

    /// Anonymous readers for the whole run.
    func anonymousReaders(world: LoadWorld, until deadline: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            for number in 0..<plan.anonymousUsers {
                group.addTask {
                    var user = VirtualUser(number: 1_000_000 + number, token: nil)
                    while ContinuousClock.now < deadline {
                        await self.iterate(&user, .anon, world: world)
                        await self.think()
                    }
                }
            }
        }
    }

    /// Open model: requests start at fixed intervals whatever the answers' speed; each is timed
    /// from when it should have started, so a server that stalls cannot slow the clock.
    func arrivals(rate: Double, tokens: [Session], world: LoadWorld, started: ContinuousClock.Instant, until deadline: ContinuousClock.Instant) async {
        let interval = Duration.seconds(1 / rate)
        await withTaskGroup(of: Void.self) { group in
            var sequence = 0
            while true {
                let intended = started + interval * sequence
                guard intended < deadline else { break }
                if intended > .now { try? await Task.sleep(until: intended, clock: .continuous) }
                let number = sequence
                sequence += 1
                guard inFlight.load(ordering: .relaxed) < plan.maxInFlight else {
                    recorder.dropIteration()
                    continue
                }
                inFlight.add(1, ordering: .relaxed)
                activeUsers.store(inFlight.load(ordering: .relaxed), ordering: .relaxed)
                group.addTask {
                    var user = VirtualUser(number: number, token: tokens[number % tokens.count].token, userID: tokens[number % tokens.count].userID)
                    await self.iterate(&user, self.plan.mix.pick(Double.random(in: 0..<1)), world: world, intended: intended)
                    self.inFlight.subtract(1, ordering: .relaxed)
                }
            }
        }
    }

    // MARK: Watching

    /// Reads the server's database connections (in use + idle) every second.
    func sampleMetrics(until deadline: ContinuousClock.Instant) async {
        guard let token = target.metricsToken else { return }
        while ContinuousClock.now < deadline {
            var request = HTTPClientRequest(url: "\(target.baseURL)/metrics")
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            if let response = try? await httpClient.execute(request, timeout: .seconds(2)), response.status == .ok,
                let body = try? await response.body.collect(upTo: 16 << 20)
            {
                let connections = Self.databaseConnections(inMetrics: String(buffer: body))
                peakConnections.withLock { $0 = max($0 ?? 0, connections) }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// The connections the server holds open: `feedfusion_db_connections` (counted by the database),
    /// or from a server without it, `feedfusion_db_pool_connections` in use plus idle (which counts a
    /// listener's connection twice, and a connection just committed and not yet returned).
    static func databaseConnections(inMetrics text: String) -> Int {
        for line in text.split(separator: "\n") where line.hasPrefix("feedfusion_db_connections ") {
            return Int(line.split(separator: " ").last.flatMap { Double($0) } ?? 0)
        }
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix("feedfusion_db_pool_connections{")
            && (line.contains(#"state="in_use""#) || line.contains(#"state="idle""#)) {
            total += line.split(separator: " ").last.flatMap { Double($0) } ?? 0
        }
        return Int(total)
    }

    func printProgress(started: ContinuousClock.Instant, until deadline: ContinuousClock.Instant) async {
        var last = ContinuousClock.now
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: .seconds(2))
            let now = ContinuousClock.now
            let window = recorder.takeWindow()
            let seconds = (now - last).seconds
            last = now
            let elapsed = Int((now - started).seconds)
            progress(String(
                format: "%4ds  VUs %5d  %7.0f req/s  p95 %7.1f ms  errors %5.2f%%", elapsed, activeUsers.load(ordering: .relaxed),
                Double(window.requests) / seconds, window.p95, window.requests > 0 ? 100 * Double(window.failed) / Double(window.requests) : 0))
        }
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
