import Database
import Logging
import PostgresNIO
import Synchronization

/// Captures unexpected errors: every first occurrence of a fingerprint, and a sample of repeats
/// (so an error storm does not become a write storm). Captured events are written to
/// `error_events` off the request path and, when a Sentry DSN is configured, sent there too.
public final class ErrorTracker: Sendable {
    public let queue: TelemetryQueue<ErrorEvent>
    private let sampleRate: Double
    private let seen = Mutex<[String: Int]>([:])
    private let logger: Logger
    /// Fingerprints remembered; past this, the memory starts over (a new first occurrence each).
    private static let rememberedFingerprints = 10_000

    public init(
        client: PostgresClient, sentry: SentryClient?, sampleRate: Double,
        queue configuration: TelemetryQueue<ErrorEvent>.Configuration = .init(), logger: Logger
    ) {
        self.sampleRate = sampleRate
        self.logger = logger
        queue = TelemetryQueue(name: "error_events", configuration, logger: logger) { batch in
            try await ErrorEvent.insert(batch, client: client, logger: logger)
            // Sentry is best effort: its failures are logged by the client, never retried through the table.
            if let sentry { for event in batch { await sentry.send(event) } }
        }
    }

    /// Captures `event` if it is a first occurrence or falls in the sample; answers whether it did.
    @discardableResult
    public func capture(_ event: ErrorEvent) -> Bool {
        let fingerprint = event.fingerprint
        let occurrence = seen.withLock { seen in
            if seen.count >= Self.rememberedFingerprints { seen.removeAll() }
            seen[fingerprint, default: 0] += 1
            return seen[fingerprint]!
        }
        logger.error(
            "unexpected error",
            metadata: [
                "error": "\(event.errorType)", "request_id": "\(event.requestID ?? "-")", "route": "\(event.route ?? "-")",
                "fingerprint": "\(fingerprint)", "occurrence": "\(occurrence)",
            ])
        guard occurrence == 1 || Double.random(in: 0..<1) < sampleRate else { return false }
        return queue.offer(event)
    }
}
