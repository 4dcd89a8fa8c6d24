import Crypto
import Foundation

/// One versioned SQL file, e.g. `0002_auth.sql` (version 2, name `auth`).
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// SHA-256 of the file's text: an applied migration whose file changes is detected by this.
    public var checksum: String {
        SHA256.hash(data: Data(sql.utf8)).hexEncoded
    }

    public var fileName: String { String(format: "%04d_%@.sql", version, name) }

    /// The migrations shipped with this build, in order.
    public static func bundled() throws -> [Migration] {
        guard let folder = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw MigrationError("the Migrations folder is missing from the build")
        }
        return try load(from: folder)
    }

    /// Reads `NNNN_name.sql` files from a folder, refusing gaps in numbering and duplicates.
    public static func load(from folder: URL) throws -> [Migration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }
        let migrations = try files.map { file -> Migration in
            let stem = file.dropLast(4)
            guard let separator = stem.firstIndex(of: "_"), let version = Int(stem[..<separator]) else {
                throw MigrationError("migration file \(file) is not named NNNN_name.sql")
            }
            let sql = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            return Migration(version: version, name: String(stem[stem.index(after: separator)...]), sql: sql)
        }.sorted { $0.version < $1.version }
        for (index, migration) in migrations.enumerated() where migration.version != index + 1 {
            throw MigrationError("migrations must be numbered 1, 2, 3… without gaps; found \(migration.fileName)")
        }
        return migrations
    }
}

/// A migration problem, with the one line an operator needs.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
