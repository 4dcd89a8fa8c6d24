import Synchronization

/// The most recent durations of something (in seconds), for quantiles of how it is now rather than
/// averaged over the process's life (`/metrics` gauges: the fan-out's lag, writers' fence waits).
public final class RecentSamples: Sendable {
    public struct Summary: Sendable, Equatable {
        /// Samples recorded since the start.
        public var count: Int
        /// Quantiles (seconds) of the recent samples; nil before the first.
        public var p50: Double?, p95: Double?, p99: Double?

        public init(count: Int, p50: Double? = nil, p95: Double? = nil, p99: Double? = nil) {
            self.count = count
            self.p50 = p50
            self.p95 = p95
            self.p99 = p99
        }

        /// The quantiles known, labelled as `/metrics` labels them.
        public var quantiles: [(String, Double)] {
            [("0.5", p50), ("0.95", p95), ("0.99", p99)].compactMap { name, value in value.map { (name, $0) } }
        }
    }

    private struct State {
        var samples: [Double] = []
        var next = 0
        var count = 0
    }
    private let state = Mutex(State())
    let capacity: Int

    public init(capacity: Int = 2048) { self.capacity = max(1, capacity) }

    public func record(_ seconds: Double) {
        state.withLock { state in
            state.count += 1
            if state.samples.count < capacity {
                state.samples.append(seconds)
            } else {
                state.samples[state.next] = seconds
                state.next = (state.next + 1) % capacity
            }
        }
    }

    public var summary: Summary {
        let (samples, count) = state.withLock { ($0.samples, $0.count) }
        guard !samples.isEmpty else { return Summary(count: count) }
        let sorted = samples.sorted()
        // Nearest rank: the smallest sample with at least q of them at or below it.
        func pick(_ q: Double) -> Double { sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))] }
        return Summary(count: count, p50: pick(0.50), p95: pick(0.95), p99: pick(0.99))
    }
}
