import Foundation
import Histogram
import Synchronization

/// Every response of the run, folded into HdrHistograms (microseconds) by scenario and cache
/// result, plus the counts the thresholds and the summary need. Shared by all virtual users.
public final class Recorder: Sendable {
    /// How a response counts: k6's `http_req_failed` is our `failed` (no answer, 5xx, or a 4xx that
    /// means the request itself was wrong); `refused` are the answers a real app gets by design
    /// (429 rate limits, 403 for what RLS hides, 409 for a duplicate).
    public enum Outcome: String, Sendable { case ok, failed, refused }

    struct Key: Hashable { let scenario: String, cache: String }

    struct State {
        var histograms: [Key: Histogram<UInt64>] = [:]
        var requests = 0, failed = 0, refused = 0
        var statuses: [Int: Int] = [:]
        var cacheHits = 0, cacheStale = 0, cacheLookups = 0
        /// Cached routes' answers by scenario and kind (`hit/shared`, `miss/own`…: see `record`).
        var answerKinds: [String: [String: Int]] = [:]
        var dropped = 0
        var acknowledgedPosts: [AcknowledgedPost] = []
        /// Answers by the wall-clock second their request started, scenario and status: what a
        /// fault drill lines up against the moment it injected the fault.
        var perSecond: [Int: [String: [Int: Int]]] = [:]
        var unansweredSamples: [String] = []
        /// Since the last progress line.
        var window = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .two)
        var windowRequests = 0, windowFailed = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The pseudo-statuses of requests without an HTTP answer: sent but never answered (the
    /// connection closed or the request timed out), or never connected (refused).
    public static let noAnswer = 0
    public static let notConnected = -1

    public static func classify(status: Int) -> Outcome {
        switch status {
        case ...0, 500...: .failed
        case 403, 409, 429: .refused
        case 400...: .failed
        default: .ok
        }
    }

    /// One answer. `cache` is the Cache-Status result (`hit`, `miss`) for cached routes, nil elsewhere;
    /// `cacheDetail` its `detail` (which kind of answer: `shared`, `shared-followers`, `home-window`),
    /// nil for the viewer's own page.
    public func record(scenario: String, status: Int, latency: Duration, cache: String?, cacheDetail: String? = nil) {
        let micros = UInt64(max(0, latency.components.seconds * 1_000_000 + latency.components.attoseconds / 1_000_000_000_000))
        let outcome = Self.classify(status: status)
        let startedSecond = Int(Date().timeIntervalSince1970 - latency.seconds)
        state.withLock { state in
            let key = Key(scenario: scenario, cache: cache ?? "none")
            if state.histograms[key] == nil {
                state.histograms[key] = Histogram(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
            }
            _ = state.histograms[key]!.record(min(micros, 600_000_000))
            _ = state.window.record(min(micros, 60_000_000))
            state.requests += 1
            state.windowRequests += 1
            state.statuses[status, default: 0] += 1
            state.perSecond[startedSecond, default: [:]][scenario, default: [:]][status, default: 0] += 1
            switch outcome {
            case .failed:
                state.failed += 1
                state.windowFailed += 1
            case .refused: state.refused += 1
            case .ok: break
            }
            if let cache {
                state.answerKinds[scenario, default: [:]]["\(cache)/\(cacheDetail ?? "own")", default: 0] += 1
                state.cacheLookups += 1
                if cache == "hit" { state.cacheHits += 1 }
                if cache == "stale" { state.cacheStale += 1 }
            }
        }
    }

    /// An open-model iteration that could not start (too many in flight).
    public func dropIteration() { state.withLock { $0.dropped += 1 } }

    /// A post the server acknowledged, with when (Unix seconds) its request was sent and answered:
    /// a drill tells the writes sent after a fault from those that were committed before it.
    public struct AcknowledgedPost: Sendable {
        public let id: String
        public let sent: Double
        public let answered: Double
    }

    /// A post the server acknowledged (create_post answered 200 with its id): it must be stored.
    public func acknowledge(post id: String, sentAgo: Duration) {
        let now = Date().timeIntervalSince1970
        let post = AcknowledgedPost(id: id, sent: now - sentAgo.seconds, answered: now)
        state.withLock { $0.acknowledgedPosts.append(post) }
    }
    public var acknowledgedPosts: [AcknowledgedPost] { state.withLock { $0.acknowledgedPosts } }

    /// Answers per wall-clock second (Unix) their request started, by scenario and status.
    public var perSecond: [Int: [String: [Int: Int]]] { state.withLock { $0.perSecond } }

    /// What went wrong with the first few requests left without an answer (for the summary).
    public func sample(unanswered description: String) {
        state.withLock { if $0.unansweredSamples.count < 5 { $0.unansweredSamples.append(description) } }
    }
    public var unansweredSamples: [String] { state.withLock { $0.unansweredSamples } }

    /// The progress window since the last call: requests, failures, p95 in ms.
    func takeWindow() -> (requests: Int, failed: Int, p95: Double) {
        state.withLock { state in
            defer {
                state.window.reset()
                state.windowRequests = 0
                state.windowFailed = 0
            }
            return (state.windowRequests, state.windowFailed, Double(state.window.valueAtPercentile(95)) / 1000)
        }
    }

    /// The latency distribution of the requests matching `tags` (`scenario`, `cache`).
    func latencies(matching tags: [String: String]) -> Histogram<UInt64>? {
        state.withLock { state in
            var merged: Histogram<UInt64>?
            for (key, histogram) in state.histograms
            where tags["scenario"].map({ $0 == key.scenario }) ?? true && tags["cache"].map({ $0 == key.cache }) ?? true {
                if merged == nil { merged = Histogram(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three) }
                merged!.add(histogram)
            }
            return merged
        }
    }

    /// Cached routes' answers by scenario and kind.
    var answerKinds: [String: [String: Int]] { state.withLock { $0.answerKinds } }

    var scenarios: [String] { state.withLock { Array(Set($0.histograms.keys.map(\.scenario))).sorted() } }

    struct Totals {
        var requests = 0, failed = 0, refused = 0, dropped = 0, cacheHits = 0, cacheStale = 0, cacheLookups = 0
        var statuses: [Int: Int] = [:]
    }

    var totals: Totals {
        state.withLock { state in
            Totals(
                requests: state.requests, failed: state.failed, refused: state.refused, dropped: state.dropped,
                cacheHits: state.cacheHits, cacheStale: state.cacheStale, cacheLookups: state.cacheLookups, statuses: state.statuses)
        }
    }
}
