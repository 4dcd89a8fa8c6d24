import Foundation
import Synchronization

/// Who is being limited now: the clients (address buckets and users) refused with 429 in the last
/// ten minutes, with how often and when last — for the dashboard's Limits page. Bounded: at most
/// `capacity` clients are remembered; the oldest go first.
public final class LimitedClients: Sendable {
    public struct Client: Sendable, Encodable {
        public let client: String
        public let policy: String
        public let refused: Int
        public let last: Date
    }

    private struct Entry {
        var policy: String
        var refused: Int
        var last: Date
    }

    private let entries = Mutex<[String: Entry]>([:])
    let window: TimeInterval
    let capacity: Int

    public init(window: TimeInterval = 600, capacity: Int = 1000) {
        self.window = window
        self.capacity = capacity
    }

    /// A 429 answered to `client` under `policy`.
    public func refused(_ client: String, policy: String, at now: Date = Date()) {
        entries.withLock { entries in
            let key = policy + " " + client
            var entry = entries[key] ?? Entry(policy: policy, refused: 0, last: now)
            if now.timeIntervalSince(entry.last) > window { entry.refused = 0 }
            entry.refused += 1
            entry.last = now
            entries[key] = entry
            guard entries.count > capacity else { return }
            entries = entries.filter { now.timeIntervalSince($0.value.last) <= window }
            while entries.count > capacity, let oldest = entries.min(by: { $0.value.last < $1.value.last })?.key {
                entries[oldest] = nil
            }
        }
    }

    /// The most refused clients of the last window, most refused first.
    public func top(_ count: Int, at now: Date = Date()) -> [Client] {
        entries.withLock { entries in
            entries.filter { now.timeIntervalSince($0.value.last) <= window }
                .map { key, entry in
                    Client(client: String(key.dropFirst(entry.policy.count + 1)), policy: entry.policy, refused: entry.refused, last: entry.last)
                }
                .sorted { ($0.refused, $0.last) > ($1.refused, $1.last) }
                .prefix(count).map { $0 }
        }
    }
}
