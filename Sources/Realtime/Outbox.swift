import Synchronization

/// What one connection has yet to write: a bounded queue drained by the connection's writer. A
/// subscriber that reads too slowly fills it; the next message then marks the connection as fallen
/// behind and ends the queue, and the writer tells the client and closes (Supabase drops such
/// messages silently — realtime #269; a client that knows can refetch).
final class Outbox: Sendable {
    let serializer: PhoenixSerializer
    private let continuation: AsyncStream<String>.Continuation
    private let fellBehind = Atomic<Bool>(false)
    private let statistics: RealtimeStatistics

    init(serializer: PhoenixSerializer, continuation: AsyncStream<String>.Continuation, statistics: RealtimeStatistics) {
        self.serializer = serializer
        self.continuation = continuation
        self.statistics = statistics
    }

    static func make(serializer: PhoenixSerializer, capacity: Int, statistics: RealtimeStatistics) -> (Outbox, AsyncStream<String>) {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(capacity))
        return (Outbox(serializer: serializer, continuation: continuation, statistics: statistics), stream)
    }

    var hasFallenBehind: Bool { fellBehind.load(ordering: .relaxed) }

    func send(_ message: PhoenixMessage) { push(message.encoded(serializer)) }

    func send(_ message: EncodedMessage) { push(message.text(serializer)) }

    /// A server push (no refs) whose payload is JSON text already.
    func sendFrame(topic: String, event: String, payloadText: String) {
        push(PhoenixMessage.frame(topic: topic, event: event, payloadText: payloadText, serializer: serializer))
    }

    private func push(_ text: String) {
        switch continuation.yield(text) {
        case .enqueued: statistics.messagesSent.add(1, ordering: .relaxed)
        case .dropped:
            if !fellBehind.exchange(true, ordering: .relaxed) { statistics.slowConsumersClosed.add(1, ordering: .relaxed) }
            continuation.finish()
        case .terminated: break
        @unknown default: break
        }
    }

    /// No more messages: the writer drains what is queued and stops.
    func finish() { continuation.finish() }
}
