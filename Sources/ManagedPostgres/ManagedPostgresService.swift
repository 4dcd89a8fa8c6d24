import Logging
import ServiceLifecycle

/// Keeps the managed PostgreSQL alive for the lifetime of the service group.
///
/// Put it first in the group: services stop in reverse order, so the HTTP server and the pool
/// have finished with the database before this service stops it. If the server dies on its own,
/// the service ends with an error, which shuts the whole group down rather than serving 500s.
public struct ManagedPostgresService: Service {
    let server: RunningPostgres
    let logger: Logger

    public init(server: RunningPostgres, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    public func run() async throws {
        let exitedOnItsOwn = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await server.waitForExit()
                return !Task.isCancelled
            }
            group.addTask {
                try? await gracefulShutdown()
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if exitedOnItsOwn {
            throw ManagedPostgresError("the managed PostgreSQL stopped unexpectedly; see its server.log")
        }
        logger.info("stopping the managed PostgreSQL")
        await server.stop()
    }
}
