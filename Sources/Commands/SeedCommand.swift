import AppConfig
import ArgumentParser
import Auth
import Database
import Foundation
import Logging
import PostgresNIO
import Seeding

/// `feedfusion seed`: generates a realistic data set (default 10,000 users, 1,000,000 posts) from a
/// seed, bulk-loads it with COPY, and writes the sample users the load test signs in as.
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed", abstract: "Generate and load a realistic data set (reproducible with --seed).")

    @Option(help: "Seed of the generator: the same seed gives the same users, graph and posts.")
    var seed: UInt64 = 1
    @Option(help: "Number of users.")
    var users = 10_000
    @Option(help: "Number of posts.")
    var posts = 1_000_000
    @Option(help: "Number of entities (places, groups, events…).")
    var entities = 500
    @Flag(help: "Replace existing users, posts and entities (all of them) with the generated set.")
    var reset = false
    @Option(help: "Where to write the sample users with their credentials (default: <DATA_DIR>/seed-users.json).")
    var usersFile: String?

    func validate() throws {
        guard (10...1_000_000).contains(users) else { throw ValidationError("--users must be between 10 and 1,000,000") }
        guard (0...50_000_000).contains(posts) else { throw ValidationError("--posts must be between 0 and 50,000,000") }
        guard (0...100_000).contains(entities) else { throw ValidationError("--entities must be between 0 and 100,000") }
    }

    /// Every seeded user's password: known to the load test, and not on the common-password list.
    static func password(seed: UInt64) -> String { "Seeded-\(seed)-Fusion!Feed" }

    func run() async throws {
        let settings = try await Settings.load()
        let logger = makeLogger(settings)
        let database = try await DatabaseTarget.open(settings, logger: logger)
        let client = PostgresClient(configuration: .init(url: database.url, poolSize: 1), backgroundLogger: logger)
        do {
            var plan = SeedPlan()
            plan.seed = seed
            plan.users = users
            plan.posts = posts
            plan.entities = entities
            // Posts end at the current hour: the same seed gives the same rows, shifted to now.
            plan.endMicroseconds = Int64(Date().timeIntervalSince1970 / 3600) * 3_600_000_000
            let hash = try await PasswordHasher(cost: settings.auth.bcryptCost).hash(Self.password(seed: seed))
            let bar = ProgressBar()
            let loader = SeedLoader(plan: plan, passwordHash: hash) { bar.update($0, $1, $2) }
            let summary = try await withRunningClient(client) { client in
                _ = try await Migrator.bundled().migrate(client: client, logger: logger)
                return try await client.withConnection { try await loader.load(on: $0, reset: reset, logger: logger) }
            }
            bar.finish()
            let file = URL(fileURLWithPath: usersFile ?? settings.dataDirectory.appendingPathComponent("seed-users.json").path)
            try writeUsersFile(summary, to: file)
            for (table, count) in summary.rows {
                print("\(table.padding(toLength: 20, withPad: " ", startingAt: 0)) \(count) rows")
            }
            print(String(format: "seeded in %.1f s (seed %llu); sample users and their password in %@", summary.seconds, seed, file.path))
        } catch {
            await database.stopManagedServer()
            throw error
        }
        await database.stopManagedServer()
    }

    func writeUsersFile(_ summary: SeedLoader.Summary, to file: URL) throws {
        struct UsersFile: Codable {
            let seed: UInt64
            let password: String
            let admin: SeedLoader.SeedUserInfo?
            let medianUser: SeedLoader.SeedUserInfo?
            let heaviestFollower: SeedLoader.SeedUserInfo?
            let users: [SeedLoader.SeedUserInfo]
        }
        let contents = UsersFile(
            seed: seed, password: Self.password(seed: seed), admin: summary.sampleUsers.first,
            medianUser: summary.medianUser, heaviestFollower: summary.heaviestFollower, users: summary.sampleUsers)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(contents).write(to: file)
        // Credentials: readable by the owner only.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
    }
}

/// One line on standard error, redrawn in place: which table, how far.
final class ProgressBar: Sendable {
    private let isTerminal = isatty(2) == 1

    func update(_ label: String, _ done: Int, _ total: Int) {
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let filled = Int(fraction * 30)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
        let line = "[\(bar)] \(String(format: "%3.0f", fraction * 100))% \(label) \(done)/\(total)"
        // Without a terminal (CI logs), only the start and end of each table.
        guard isTerminal || done == 0 || done == total else { return }
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + line + (isTerminal ? "" : "\n")).utf8))
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
