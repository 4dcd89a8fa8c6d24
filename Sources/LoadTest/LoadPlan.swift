import Foundation

/// What a load run does: how many virtual users over time (closed model) or how many requests per
/// second (open model), for how long, with what mix — parsed from k6-like command-line text.
public struct LoadPlan: Sendable {
    /// A ramp stage: move linearly to `target` virtual users over `duration`.
    public struct Stage: Sendable, Equatable {
        public var duration: Duration
        public var target: Int

        public init(duration: Duration, target: Int) {
            self.duration = duration
            self.target = target
        }
    }

    public var stages: [Stage]
    /// `--stages` ramp from 0 virtual users; `--vus N --duration D` holds N from the start.
    public var startsAtZero: Bool
    /// Open model: requests started per second, whatever the answers' speed (latency measured
    /// from each request's intended start, so a stalled server cannot hide its stall).
    public var rate: Double?
    /// Most requests in flight in the open model; beyond it, iterations are dropped and counted.
    public var maxInFlight: Int
    /// Pause of a virtual user between two requests.
    public var thinkTime: Duration
    public var mix: Mix
    /// Virtual users reading anonymously (profile, entity and nearby feeds) beside the signed-in ones.
    public var anonymousUsers: Int

    public var duration: Duration { stages.reduce(.zero) { $0 + $1.duration } }
    public var peakUsers: Int { stages.map(\.target).max() ?? 0 }

    public init(stages: [Stage], startsAtZero: Bool = true, rate: Double? = nil, maxInFlight: Int = 1000, thinkTime: Duration = .seconds(1), mix: Mix = Mix(), anonymousUsers: Int = 0) {
        self.stages = stages
        self.startsAtZero = startsAtZero
        self.rate = rate
        self.maxInFlight = maxInFlight
        self.thinkTime = thinkTime
        self.mix = mix
        self.anonymousUsers = anonymousUsers
    }

    /// Virtual users wanted `elapsed` into the run: each stage moves linearly from the previous
    /// stage's target to its own; 0 after the last.
    public func users(at elapsed: Duration) -> Int {
        var start = Duration.zero
        var from = startsAtZero ? 0 : (stages.first?.target ?? 0)
        for stage in stages {
            let end = start + stage.duration
            if elapsed < end {
                let fraction = stage.duration > .zero ? (elapsed - start) / stage.duration : 1
                return Int((Double(from) + Double(stage.target - from) * fraction).rounded())
            }
            from = stage.target
            start = end
        }
        return 0
    }
}

/// Parsing of the command line's text: durations, stages, rates, the mix.
public enum LoadPlanText {
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// `500ms`, `30s`, `2m`, `1h`, or seconds without a unit.
    public static func duration(_ text: String) throws -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value >= 0, value.isFinite {
                return .milliseconds(Int64((value * scale * 1000).rounded()))
            }
        }
        if let value = Double(text), value >= 0, value.isFinite { return .milliseconds(Int64(value * 1000)) }
        throw Invalid(description: "'\(text)' is not a duration such as 500ms, 30s, 2m")
    }

    /// `30s:100,60s:1000,30s:0`.
    public static func stages(_ text: String) throws -> [LoadPlan.Stage] {
        let stages = try text.split(separator: ",").map { part -> LoadPlan.Stage in
            let pieces = part.split(separator: ":")
            guard pieces.count == 2, let target = Int(pieces[1]), target >= 0 else {
                throw Invalid(description: "'\(part)' is not a stage such as 30s:100 (duration:virtual users)")
            }
            return LoadPlan.Stage(duration: try duration(String(pieces[0])), target: target)
        }
        guard !stages.isEmpty else { throw Invalid(description: "--stages needs at least one stage") }
        return stages
    }

    /// `2000/s`, `600/m`, or a plain number per second.
    public static func rate(_ text: String) throws -> Double {
        let parts = text.split(separator: "/")
        guard let value = Double(parts[0]), value > 0, value.isFinite, parts.count <= 2 else {
            throw Invalid(description: "'\(text)' is not a rate such as 2000/s")
        }
        switch parts.count == 2 ? parts[1] : "s" {
        case "s": return value
        case "m": return value / 60
        default: throw Invalid(description: "'\(text)': the rate's unit is /s or /m")
        }
    }
}

/// The weights of the operations a signed-in virtual user chooses from.
public struct Mix: Sendable, Equatable {
    public var weights: [Operation: Int]

    /// The product's default: home 55, profile 15, entity 10, nearby 5, post 5, like 5, follow 3, events 2.
    public init(weights: [Operation: Int] = [
        .home: 55, .profile: 15, .entity: 10, .nearby: 5, .post: 5, .like: 5, .follow: 3, .events: 2,
    ]) {
        self.weights = weights
    }

    /// `home=55,profile=15,…`; operations not named get weight 0.
    public init(parsing text: String) throws {
        var weights: [Operation: Int] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=")
            guard pair.count == 2, let operation = Operation(rawValue: String(pair[0])), let weight = Int(pair[1]), weight >= 0 else {
                throw LoadPlanText.Invalid(
                    description: "'\(part)' is not op=weight with op one of \(Operation.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            weights[operation] = weight
        }
        guard weights.values.reduce(0, +) > 0 else { throw LoadPlanText.Invalid(description: "--mix needs a positive weight") }
        self.weights = weights
    }

    /// The operation a roll in 0..<1 picks.
    public func pick(_ roll: Double) -> Operation {
        let total = weights.values.reduce(0, +)
        var left = roll * Double(total)
        for operation in Operation.allCases {
            left -= Double(weights[operation] ?? 0)
            if left < 0 { return operation }
        }
        return Operation.allCases.last { (weights[$0] ?? 0) > 0 } ?? .home
    }
}

/// What a virtual user does in one iteration; the name is the `scenario` tag of its requests.
public enum Operation: String, Sendable, CaseIterable, Hashable {
    case home, profile, entity, nearby, post, like, follow, events
    /// Anonymous public reads (their own virtual users).
    case anon
}
