/// A pass/fail criterion over the run's results, in k6's syntax:
/// `http_req_duration{scenario:home}:p(95)<250` (milliseconds), `http_req_failed:rate<0.02`,
/// `cache_hit_rate>0.7`, `db_connections:max<100`, `http_reqs:count>1000`.
public struct Threshold: Sendable, Equatable, CustomStringConvertible {
    public enum Aggregate: Sendable, Equatable {
        case percentile(Double), rate, max, min, avg, count, value
    }
    public enum Comparison: String, Sendable { case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=" }

    public let metric: String
    /// `scenario:home`, `cache:hit`…
    public let tags: [String: String]
    public let aggregate: Aggregate
    public let comparison: Comparison
    public let bound: Double
    public let description: String

    public static let metrics = ["http_req_duration", "http_req_failed", "http_reqs", "cache_hit_rate", "feed_no_database_rate", "db_connections", "iterations_dropped"]

    public init(parsing text: String) throws {
        func invalid(_ why: String) -> LoadPlanText.Invalid {
            LoadPlanText.Invalid(description: "threshold '\(text)': \(why)")
        }
        description = text
        let compact = text.filter { !$0.isWhitespace }
        guard let operatorStart = compact.lastIndex(where: { $0 == "<" || $0 == ">" }) else { throw invalid("needs < or >") }
        var boundText = compact[compact.index(after: operatorStart)...]
        var comparisonText = String(compact[operatorStart])
        if boundText.first == "=" {
            comparisonText += "="
            boundText = boundText.dropFirst()
        }
        guard let bound = Double(boundText) else { throw invalid("'\(boundText)' is not a number") }
        self.bound = bound
        comparison = Comparison(rawValue: comparisonText)!
        var subject = compact[..<operatorStart]
        // metric{tags}:aggregate
        var tags: [String: String] = [:]
        var name: Substring
        if let open = subject.firstIndex(of: "{") {
            guard let close = subject.firstIndex(of: "}"), close > open else { throw invalid("unclosed {") }
            name = subject[..<open]
            for pair in subject[subject.index(after: open)..<close].split(separator: ",") {
                let kv = pair.split(separator: ":")
                guard kv.count == 2, ["scenario", "cache"].contains(kv[0]) else { throw invalid("tags are scenario:<name> or cache:hit|miss") }
                tags[String(kv[0])] = String(kv[1])
            }
            subject = subject[subject.index(after: close)...]
        } else {
            name = subject.prefix { $0 != ":" }
            subject = subject.dropFirst(name.count)
        }
        metric = String(name)
        guard Self.metrics.contains(metric) else { throw invalid("metric is one of \(Self.metrics.joined(separator: ", "))") }
        self.tags = tags
        let aggregateText = subject.hasPrefix(":") ? String(subject.dropFirst()) : ""
        switch aggregateText {
        case "": aggregate = metric == "http_req_duration" ? .percentile(95) : metric == "db_connections" ? .max : .value
        case "rate": aggregate = .rate
        case "max": aggregate = .max
        case "min": aggregate = .min
        case "avg": aggregate = .avg
        case "count": aggregate = .count
        default:
            guard aggregateText.hasPrefix("p("), aggregateText.hasSuffix(")"), let p = Double(aggregateText.dropFirst(2).dropLast()),
                p > 0, p <= 100
            else { throw invalid("aggregate is p(N), rate, max, min, avg or count") }
            aggregate = .percentile(p)
        }
    }

    public func holds(for value: Double) -> Bool {
        switch comparison {
        case .less: value < bound
        case .lessOrEqual: value <= bound
        case .greater: value > bound
        case .greaterOrEqual: value >= bound
        }
    }

    /// The product's targets: feed p95 under 250 ms (cache hits under 120 ms), under 2 % failures,
    /// cache hits over 70 %, under 100 database connections.
    public static let defaults = [
        "http_req_duration{scenario:home}:p(95)<250",
        "http_req_duration{cache:hit}:p(95)<120",
        "http_req_failed:rate<0.02",
        "cache_hit_rate>0.7",
        "db_connections:max<100",
    ]
}
