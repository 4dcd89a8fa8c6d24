#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Which long-lived services are still running, by name: a shutdown that runs out of time names them.
public final class RunningServices: Sendable {
    private let names = Mutex<[String: Int]>([:])
    public init() {}

    func started(_ name: String) { names.withLock { $0[name, default: 0] += 1 } }
    func stopped(_ name: String) {
        names.withLock { names in
            names[name, default: 1] -= 1
            if names[name] == 0 { names[name] = nil }
        }
    }
    public var running: [String] { names.withLock { $0.keys.sorted() } }
}

/// A service that reports to `RunningServices` while it runs.
struct TrackedService: Service, CustomStringConvertible {
    let base: any Service
    let registry: RunningServices
    var description: String { String(describing: type(of: base)) }

    func run() async throws {
        let name = description
        registry.started(name)
        defer { registry.stopped(name) }
        try await base.run()
    }
}

/// Bounds a graceful shutdown. Put it last in the service group: the group tells services to shut
/// down in reverse order, so the watchdog hears first, starts its clock and steps aside. Then:
/// - at 60 % of `timeout` the group escalates to cancellation (`ServeCommand` sets that), which ends
///   handlers and services that wait on something that will not come;
/// - at 80 %, if the process is still here, it logs the requests still in flight and the services
///   still running, runs `beforeExit` (stops the managed PostgreSQL, bounded by the rest of the time)
///   and exits with status 1 — an orchestrator's rolling deploy never waits on a hung process.
public struct ShutdownWatchdog: Service {
    let timeout: Duration
    let inFlight: InFlightRequests
    let connections: OpenConnections
    let services: RunningServices
    let logger: Logger
    let beforeExit: @Sendable () async -> Void

    public init(
        timeout: Duration, inFlight: InFlightRequests, connections: OpenConnections, services: RunningServices, logger: Logger,
        beforeExit: @escaping @Sendable () async -> Void
    ) {
        self.timeout = timeout
        self.inFlight = inFlight
        self.connections = connections
        self.services = services
        self.logger = logger
        self.beforeExit = beforeExit
    }

    public func run() async throws {
        // Returns on graceful shutdown (a signal) or cancellation (a service failed).
        try? await gracefulShutdown()
        let started = ContinuousClock.now
        let (timeout, inFlight, connections, services, logger, beforeExit) = (timeout, inFlight, connections, services, logger, beforeExit)
        logger.info("shutting down", metadata: ["in_flight": "\(inFlight.current.count)", "timeout": "\(timeout)"])
        // Unstructured on purpose: it must outlive this service (which steps aside now) and fire only
        // if the rest of the shutdown does not finish first, in which case the process has exited.
        Task.detached {
            try? await Task.sleep(until: started + timeout * 0.8, clock: .continuous)
            logger.error(
                "shutdown did not finish in time; exiting anyway",
                metadata: [
                    "timeout": "\(timeout)", "in_flight": "\(inFlight.describe())", "connections_waiting": "\(connections.describeBusy())",
                    "services_running": "\(services.running.joined(separator: ", "))",
                ])
            // Stopping the managed PostgreSQL gets the rest of the time, not more.
            Task.detached {
                try? await Task.sleep(until: started + timeout, clock: .continuous)
                exit(1)
            }
            await beforeExit()
            exit(1)
        }
    }
}
