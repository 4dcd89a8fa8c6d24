import Seeding

/// The seed's reproducible generator (SplitMix64) for the tests' random worlds, so that a failing
/// seed can be rerun: `below(_:)`, `chance(_:)`, and any `random(in:using:)`.
public typealias SeededGenerator = SeededRandom
