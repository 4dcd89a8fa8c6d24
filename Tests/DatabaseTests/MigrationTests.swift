import Database
import Foundation
import PostgresNIO
import Testing
import TestSupport

@Suite("Migrations")
struct MigrationTests {
    @Test("apply on an empty database, and a second run changes nothing")
    func applyThenNoOp() async throws {
        let database = try await TestDatabase.empty()
        let migrator = try Migrator.bundled()
        try await database.withClient { client in
            let first = try await migrator.migrate(client: client, logger: database.logger)
            #expect(first == migrator.migrations.map(\.fileName))
            #expect(first.count >= 5)

            let second = try await migrator.migrate(client: client, logger: database.logger)
            #expect(second.isEmpty)
            #expect(try await migrator.pending(client: client, logger: database.logger).isEmpty)

            var recorded = 0
            for try await count in try await client.query("SELECT count(*)::int FROM feedfusion.schema_migrations").decode(Int.self) {
                recorded = count
            }
            #expect(recorded == migrator.migrations.count)
        }
    }

    @Test("an applied migration whose file changed is refused, and nothing is applied")
    func tamperedMigrationIsRefused() async throws {
        let database = try await TestDatabase.migrated()
        var migrations = try Migration.bundled()
        let original = migrations[2]
        migrations[2] = Migration(version: original.version, name: original.name, sql: original.sql + "\n-- edited\n")
        let newMigration = Migration(version: migrations.count + 1, name: "extra", sql: "CREATE TABLE public.should_not_exist (id int)")
        let tampered = Migrator(migrations: migrations + [newMigration])
        try await database.withClient { client in
            let error = await #expect(throws: MigrationError.self) {
                try await tampered.migrate(client: client, logger: database.logger)
            }
            #expect(error?.description.contains(original.fileName) == true)
            #expect(error?.description.contains("edited") == true)
            var exists = true
            for try await value in try await client.query("SELECT to_regclass('public.should_not_exist') IS NOT NULL").decode(Bool.self) {
                exists = value
            }
            #expect(!exists)
        }
    }

    @Test("a failing migration rolls back completely and names the file")
    func failingMigrationRollsBack() async throws {
        let database = try await TestDatabase.migrated()
        var migrations = try Migration.bundled()
        migrations.append(Migration(
            version: migrations.count + 1, name: "broken",
            sql: "CREATE TABLE public.half_done (id int);\nSELECT * FROM no_such_table;"))
        let migrator = Migrator(migrations: migrations)
        try await database.withClient { client in
            let error = await #expect(throws: MigrationError.self) {
                try await migrator.migrate(client: client, logger: database.logger)
            }
            #expect(error?.description.contains("_broken.sql") == true)
            var exists = true
            for try await value in try await client.query("SELECT to_regclass('public.half_done') IS NOT NULL").decode(Bool.self) {
                exists = value
            }
            #expect(!exists)
        }
    }

    @Test("migration files must be numbered without gaps")
    func gapsAreRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "SELECT 1".write(to: folder.appendingPathComponent("0001_first.sql"), atomically: true, encoding: .utf8)
        try "SELECT 3".write(to: folder.appendingPathComponent("0003_third.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.self) { try Migration.load(from: folder) }
    }
}
