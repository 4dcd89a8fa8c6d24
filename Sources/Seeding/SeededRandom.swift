/// Reproducible randomness for the data generator: SplitMix64, which is fast, passes BigCrush,
/// and can be split by index (`derived(_:)`) so that one post's attributes can be recomputed in any
/// pass without keeping a million of them in memory.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// An independent stream for item `index` of stream `stream`.
    public static func derived(seed: UInt64, stream: UInt64, index: UInt64) -> SeededRandom {
        var mixer = SeededRandom(seed: seed ^ (stream &* 0xD6E8_FEB8_6659_FD93) ^ (index &* 0x9E37_79B9_7F4A_7C15))
        return SeededRandom(seed: mixer.next())
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    public mutating func chance(_ probability: Double) -> Bool { unit() < probability }

    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u = max(unit(), 1e-300)
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * unit())
    }

    /// Geometric count with the given mean (0, 1, 2, …).
    public mutating func geometric(mean: Double) -> Int {
        guard mean > 0 else { return 0 }
        let p = 1 / (1 + mean)
        return Int(log(max(unit(), 1e-300)) / log(1 - p))
    }
}

/// Draws indices in proportion to fixed weights (inverse CDF by binary search): the power laws of
/// who posts, who is followed.
public struct WeightedIndex: Sendable {
    private let cumulative: [Double]
    public var count: Int { cumulative.count }

    /// Zipf weights 1/rank^exponent over `count` items, ranks in the given order.
    public init(zipfOver count: Int, exponent: Double) {
        var total = 0.0
        cumulative = (0..<count).map { rank in
            total += 1 / pow(Double(rank + 1), exponent)
            return total
        }
    }

    /// Weights given one by one (e.g. each profile's follower count); nil when none is positive.
    public init?(weights: [Double]) {
        var total = 0.0
        cumulative = weights.map { weight in
            total += max(0, weight)
            return total
        }
        guard total > 0 else { return nil }
    }

    public func draw(using random: inout SeededRandom) -> Int { draw(unit: random.unit()) }

    /// The index whose share of the weights holds `unit` (uniform in 0..<1).
    public func draw(unit: Double) -> Int {
        let target = unit * cumulative[cumulative.count - 1]
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < target { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
