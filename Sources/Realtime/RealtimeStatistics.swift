import Synchronization

/// Running totals of `/realtime/v1`, for `/metrics`.
public final class RealtimeStatistics: Sendable {
    let messagesSent = Atomic<Int>(0)
    let slowConsumersClosed = Atomic<Int>(0)
    let changesDelivered = Atomic<Int>(0)
    let changesRead = Atomic<Int>(0)

    public init() {}

    public struct Totals: Sendable {
        /// Messages queued to clients (replies, broadcasts, presence, changes, home posts).
        public let messagesSent: Int
        /// Connections closed because they fell behind (`SlowConsumer`).
        public let slowConsumersClosed: Int
        /// `postgres_changes` events sent, and changed rows read for them (once per group of claims).
        public let changesDelivered: Int
        public let changesRead: Int
    }

    public var totals: Totals {
        Totals(
            messagesSent: messagesSent.load(ordering: .relaxed), slowConsumersClosed: slowConsumersClosed.load(ordering: .relaxed),
            changesDelivered: changesDelivered.load(ordering: .relaxed), changesRead: changesRead.load(ordering: .relaxed))
    }
}
