import Testing
@testable import FeedCache

@Suite("Fan-out lag")
struct FanOutLagTests {
    @Test("quantiles by nearest rank over the recent samples; older samples roll off")
    func quantiles() {
        let lag = FanOutLag(capacity: 100)
        #expect(lag.summary == FanOutLag.Summary(count: 0))
        // 1…100 ms.
        for ms in 1...100 { lag.record(createdAtMicroseconds: 0, nowMicroseconds: Int64(ms) * 1000) }
        var summary = lag.summary
        #expect(summary.count == 100)
        #expect(summary.p50 == 0.050)
        #expect(summary.p95 == 0.095)
        #expect(summary.p99 == 0.099)
        // 100 more at 2 s replace all of them; a clock that stepped back counts as no lag.
        for _ in 1...99 { lag.record(createdAtMicroseconds: 0, nowMicroseconds: 2_000_000) }
        lag.record(createdAtMicroseconds: 5_000_000, nowMicroseconds: 1_000_000)
        summary = lag.summary
        #expect(summary.count == 200)
        #expect(summary.p50 == 2)
        #expect(summary.p99 == 2)
        #expect(lag.summary.p50 != nil)
    }
}
