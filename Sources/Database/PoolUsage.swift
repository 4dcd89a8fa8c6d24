import Foundation
import Synchronization

/// How this process uses its database pool, for `/metrics`: transactions waiting for a
/// connection and connections in use, counted around every `withCaller`. The pool's connections
/// carry `application_name` = `PoolUsage.applicationName`, so that the idle ones can be counted
/// on the server (`pg_stat_activity`) for this process alone.
public final class PoolUsage: Sendable {
    public static let shared = PoolUsage()
    public static let applicationName = "feedfusion-\(ProcessInfo.processInfo.processIdentifier)"

    private let waitingCount = Atomic<Int>(0)
    private let inUseCount = Atomic<Int>(0)

    public var waiting: Int { waitingCount.load(ordering: .relaxed) }
    public var inUse: Int { inUseCount.load(ordering: .relaxed) }

    func startWaiting() { waitingCount.add(1, ordering: .relaxed) }
    /// The pool gave no connection (timeout, cancellation, database away).
    func stopWaiting() { waitingCount.subtract(1, ordering: .relaxed) }
    func acquired() {
        waitingCount.subtract(1, ordering: .relaxed)
        inUseCount.add(1, ordering: .relaxed)
    }
    func released() { inUseCount.subtract(1, ordering: .relaxed) }
}
