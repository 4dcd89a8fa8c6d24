import Foundation
import Histogram

/// The figures of a finished run, the thresholds judged against them, and their k6-style summary.
public struct LoadReport: Sendable {
    public struct Latency: Sendable, Codable {
        public let count: UInt64
        public let avg, min, med, max, p90, p95, p99: Double
    }

    public struct ThresholdResult: Sendable, Codable {
        public let threshold: String
        /// nil: the run produced no data for it (no matching request, or /metrics not readable).
        public let value: Double?
        public let passed: Bool
    }

    public let requests: Int
    public let failed: Int
    public let refused: Int
    public let droppedIterations: Int
    public let statuses: [Int: Int]
    public let cacheHitRate: Double?
    /// Feed requests the server answered without a database round trip (its `Cache-Status`: a hit,
    /// in memory or Redis, or a stale answer), of all feed requests: what the cache spares PostgreSQL.
    public let noDatabaseRate: Double?
    public let peakConnections: Int?
    public let wallSeconds: Double
    /// The generator's own CPU use, as a share of all cores: near 1 means the numbers measure the generator.
    public let generatorCPU: Double
    public let latency: Latency?
    public let latencyByScenario: [String: Latency]
    public let latencyByCache: [String: Latency]
    /// Per feed scenario, the share of its requests answered without the database (hit or stale).
    public let noDatabaseRateByScenario: [String: Double]
    /// Per feed scenario, the share of each kind of answer: the cache result and which page answered
    /// (`hit/shared`: a page shared between viewers; `miss/own`: the viewer's own page computed…), so
    /// that a run says why its feeds went to the database, not only how often.
    public let answerKindsByScenario: [String: [String: Double]]
    let recorder: Recorder

    init(recorder: Recorder, plan: LoadPlan, wall: Duration, peakConnections: Int?, generatorCPU: Double) {
        self.recorder = recorder
        let totals = recorder.totals
        requests = totals.requests
        failed = totals.failed
        refused = totals.refused
        droppedIterations = totals.dropped
        statuses = totals.statuses
        cacheHitRate = totals.cacheLookups > 0 ? Double(totals.cacheHits) / Double(totals.cacheLookups) : nil
        noDatabaseRate = totals.cacheLookups > 0 ? Double(totals.cacheHits + totals.cacheStale) / Double(totals.cacheLookups) : nil
        self.peakConnections = peakConnections
        wallSeconds = wall.seconds
        self.generatorCPU = generatorCPU
        latency = recorder.latencies(matching: [:]).map(Self.latency)
        var byScenario: [String: Latency] = [:]
        for scenario in recorder.scenarios {
            byScenario[scenario] = recorder.latencies(matching: ["scenario": scenario]).map(Self.latency)
        }
        latencyByScenario = byScenario
        var byCache: [String: Latency] = [:]
        for cache in ["hit", "miss", "stale"] {
            if let histogram = recorder.latencies(matching: ["cache": cache]) { byCache[cache] = Self.latency(histogram) }
        }
        latencyByCache = byCache
        answerKindsByScenario = recorder.answerKinds.mapValues { kinds in
            let total = Double(kinds.values.reduce(0, +))
            return kinds.mapValues { Double($0) / total }
        }
        // A hit or a stale answer, whichever page it came from.
        noDatabaseRateByScenario = answerKindsByScenario.mapValues { kinds in
            kinds.filter { $0.key.hasPrefix("hit/") || $0.key.hasPrefix("stale/") }.values.reduce(0, +)
        }
    }

    static func latency(_ histogram: Histogram<UInt64>) -> Latency {
        func ms(_ micros: UInt64) -> Double { Double(micros) / 1000 }
        return Latency(
            count: histogram.totalCount, avg: histogram.mean / 1000, min: ms(histogram.min), med: ms(histogram.median),
            max: ms(histogram.max), p90: ms(histogram.valueAtPercentile(90)), p95: ms(histogram.valueAtPercentile(95)),
            p99: ms(histogram.valueAtPercentile(99)))
    }

    /// The value a threshold is judged on, or nil when the run has no data for it.
    public func value(for threshold: Threshold) -> Double? {
        switch threshold.metric {
        case "http_req_duration":
            guard let histogram = recorder.latencies(matching: threshold.tags), histogram.totalCount > 0 else { return nil }
            let latency = Self.latency(histogram)
            switch threshold.aggregate {
            case .percentile(let p): return Double(histogram.valueAtPercentile(p)) / 1000
            case .max: return latency.max
            case .min: return latency.min
            case .avg: return latency.avg
            case .count: return Double(latency.count)
            case .rate, .value: return latency.p95
            }
        case "http_req_failed": return requests > 0 ? Double(failed) / Double(requests) : nil
        case "http_reqs": return threshold.aggregate == .rate ? Double(requests) / max(wallSeconds, 0.001) : Double(requests)
        case "cache_hit_rate": return cacheHitRate
        case "feed_no_database_rate": return noDatabaseRate
        case "db_connections": return peakConnections.map(Double.init)
        case "iterations_dropped": return Double(droppedIterations)
        default: return nil
        }
    }

    /// Every threshold with its value; a threshold without data fails (a criterion that cannot be checked is not met).
    public func judge(_ thresholds: [Threshold]) -> [ThresholdResult] {
        thresholds.map { threshold in
            let value = value(for: threshold)
            return ThresholdResult(threshold: threshold.description, value: value, passed: value.map(threshold.holds) ?? false)
        }
    }

    /// The k6-style summary printed at the end of a run.
    public func summary(_ results: [ThresholdResult]) -> String {
        var lines: [String] = []
        func row(_ name: String, _ value: String) {
            lines.append("     " + name + String(repeating: ".", count: max(2, 34 - name.count)) + ": " + value)
        }
        func describe(_ latency: Latency) -> String {
            String(
                format: "avg=%.2fms min=%.2fms med=%.2fms max=%.2fms p(90)=%.2fms p(95)=%.2fms p(99)=%.2fms",
                latency.avg, latency.min, latency.med, latency.max, latency.p90, latency.p95, latency.p99)
        }
        for result in results {
            let shown = result.value.map { String(format: "%.4g", $0) } ?? "no data"
            lines.append("     \(result.passed ? "✓" : "✗") \(result.threshold)  (\(shown))")
        }
        lines.append("")
        row("cache_hit_rate", cacheHitRate.map { String(format: "%.2f%%", $0 * 100) } ?? "no cached responses")
        row("feed_no_database_rate", noDatabaseRate.map { String(format: "%.2f%% of feed requests answered without a database round trip", $0 * 100) } ?? "-")
        for (scenario, share) in noDatabaseRateByScenario.sorted(by: { $0.key < $1.key }) {
            let kinds = (answerKindsByScenario[scenario] ?? [:]).sorted { $0.value > $1.value }
                .map { String(format: "%@ %.1f", $0.key, $0.value * 100) }.joined(separator: " · ")
            row("  { scenario:\(scenario) }", String(format: "%.2f%%", share * 100) + (kinds.isEmpty ? "" : "  (\(kinds))"))
        }
        row("db_connections", peakConnections.map { "max=\($0)" } ?? "not read (give --metrics-token)")
        if let latency { row("http_req_duration", describe(latency)) }
        for (scenario, latency) in latencyByScenario.sorted(by: { $0.key < $1.key }) {
            row("  { scenario:\(scenario) }", describe(latency) + " n=\(latency.count)")
        }
        for (cache, latency) in latencyByCache.sorted(by: { $0.key < $1.key }) {
            row("  { cache:\(cache) }", describe(latency) + " n=\(latency.count)")
        }
        row("http_req_failed", String(format: "%.2f%% (%d of %d)", requests > 0 ? 100 * Double(failed) / Double(requests) : 0, failed, requests))
        row("http_req_refused", "\(refused) (403, 409, 429: what a real app meets by design)")
        row("http_reqs", String(format: "%d  %.1f/s", requests, Double(requests) / max(wallSeconds, 0.001)))
        row("statuses", statuses.sorted { $0.key < $1.key }.map { "\($0.key == Recorder.noAnswer ? "no answer" : $0.key == Recorder.notConnected ? "not connected" : String($0.key))=\($0.value)" }.joined(separator: " "))
        row("iterations_dropped", "\(droppedIterations)")
        row("generator_cpu", String(format: "%.0f%% of %d cores%@", generatorCPU * 100, ProcessInfo.processInfo.activeProcessorCount,
            generatorCPU > 0.8 ? " — the generator is saturated: the latencies measure it, not the server" : ""))
        return lines.joined(separator: "\n")
    }

    /// Every figure, for `--summary-json`.
    public func json(_ results: [ThresholdResult]) throws -> Data {
        struct Document: Encodable {
            let thresholds: [ThresholdResult]
            let passed: Bool
            let http_reqs: Int
            let http_reqs_per_second: Double
            let http_req_failed: Int
            let http_req_failed_rate: Double
            let http_req_refused: Int
            let statuses: [String: Int]
            let unanswered_samples: [String]
            let iterations_dropped: Int
            let cache_hit_rate: Double?
            let feed_no_database_rate: Double?
            let feed_no_database_rate_by_scenario: [String: Double]
            let feed_answers_by_scenario: [String: [String: Double]]
            let db_connections_max: Int?
            let duration_seconds: Double
            let generator_cpu: Double
            let http_req_duration: Latency?
            let http_req_duration_by_scenario: [String: Latency]
            let http_req_duration_by_cache: [String: Latency]
            /// Unix second → scenario → status → answers (requests by the second they started).
            let per_second: [String: [String: [String: Int]]]
        }
        let document = Document(
            thresholds: results, passed: results.allSatisfy(\.passed), http_reqs: requests,
            http_reqs_per_second: Double(requests) / max(wallSeconds, 0.001), http_req_failed: failed,
            http_req_failed_rate: requests > 0 ? Double(failed) / Double(requests) : 0, http_req_refused: refused,
            statuses: Dictionary(uniqueKeysWithValues: statuses.map { (String($0.key), $0.value) }),
            unanswered_samples: recorder.unansweredSamples, iterations_dropped: droppedIterations,
            cache_hit_rate: cacheHitRate, feed_no_database_rate: noDatabaseRate, feed_no_database_rate_by_scenario: noDatabaseRateByScenario,
            feed_answers_by_scenario: answerKindsByScenario, db_connections_max: peakConnections, duration_seconds: wallSeconds, generator_cpu: generatorCPU,
            http_req_duration: latency, http_req_duration_by_scenario: latencyByScenario, http_req_duration_by_cache: latencyByCache,
            per_second: Dictionary(uniqueKeysWithValues: recorder.perSecond.map { second, scenarios in
                (String(second), scenarios.mapValues { Dictionary(uniqueKeysWithValues: $0.map { (String($0.key), $0.value) }) })
            }))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(document)
    }
}
