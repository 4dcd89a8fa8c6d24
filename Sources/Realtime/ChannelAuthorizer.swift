import Auth
import Database
import Foundation
import Logging
import PostgresNIO

/// Asks the database whether a caller may join a private channel and send on it: the policies on
/// `realtime.messages`, evaluated as the caller (migration 0023), never a rule of the server's own.
public struct ChannelAuthorizer: Sendable {
    let client: PostgresClient
    let acquisitionTimeout: Duration
    let logger: Logger

    public init(client: PostgresClient, acquisitionTimeout: Duration, logger: Logger) {
        self.client = client
        self.acquisitionTimeout = acquisitionTimeout
        self.logger = logger
    }

    public struct Permissions: Sendable, Equatable {
        public var receive: Bool
        public var send: Bool
    }

    /// Why a private channel's permissions were not given.
    public enum Refusal: Error, Sendable {
        /// The anon key: private channels need a signed-in user's token.
        case anonymous
        /// The database could not be asked (logged here).
        case unavailable
    }

    /// A private channel's permissions for a caller, as every path asks them (a join, a token
    /// refresh, a broadcast over HTTP): the anon key never, anyone else as the policies say.
    public func privateChannel(_ topic: String, for caller: Caller) async -> Result<Permissions, Refusal> {
        guard caller.role != .anon else { return .failure(.anonymous) }
        do {
            return .success(try await permissions(of: caller, on: topic))
        } catch {
            logger.warning("realtime authorization failed", metadata: ["error": "\(String(reflecting: error))"])
            return .failure(.unavailable)
        }
    }

    /// `topic` without the `realtime:` prefix, as policies see it through `realtime.topic()`.
    public func permissions(of caller: Caller, on topic: String) async throws -> Permissions {
        let logger = logger
        let text = try await client.withCaller(caller, acquisitionTimeout: acquisitionTimeout, logger: logger) { connection in
            try await connection.query("SELECT realtime.authorize(\(topic))::text", logger: logger)
                .decode(String.self).first { _ in true }
        }
        let answer = try text.map(JSONValue.init(jsonText:))?.objectValue ?? [:]
        return Permissions(receive: answer["read"] == .bool(true), send: answer["write"] == .bool(true))
    }
}
