import Foundation
import NIOCore
import Testing

@testable import FeedCache

/// Pages made from other pages — a new row pushed on top, a page cut from a window at a cursor —
/// carry slots computed by moving the old ones, not by rescanning: they must be exactly what a
/// scan of the new bytes finds, or a counter would be spliced into the wrong place.
@Suite("Feed page slots of pushed and cut pages")
struct FeedPageSlotsTests {
    /// A row as PostgreSQL writes one: a cursor of "<micros>~<id>" in base64url, nested objects,
    /// a body with braces, quotes and commas.
    static func row(_ index: Int, micros: Int64) -> String {
        let id = String(format: "6f1c2b1e-0000-4000-8000-%012d", index)
        let cursor = Data("\(micros)~\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return """
            {"id":"\(id)","author":{"id":"aa","username":"u\(index)"},"body":"row \(index): {\\"like_count\\": 1}, [","reasons":["following"],\
            "like_count":\(index % 7),"cursor":"\(cursor)","liked_by_viewer":\(index % 2 == 0)}
            """
    }

    static func page(_ indexes: some Sequence<Int>) -> ByteBuffer {
        ByteBuffer(string: "[" + indexes.map { row($0, micros: 1_000_000 + Int64($0)) }.joined(separator: ", \n ") + "]")
    }

    @Test("pushing a row: the page as if scanned anew, cut to its limit; refused when the page holds a newer row")
    func pushing() throws {
        for (count, limit) in [(0, 3), (1, 3), (3, 3), (5, 3), (5, 1), (60, 60)] {
            // Rows newest first: indexes count-1 … 0.
            let body = count == 0 ? ByteBuffer(string: "[]") : Self.page((0..<count).reversed())
            let slots = count == 0 ? FeedPageSlots.empty : try #require(FeedPageSlots.scan(body))
            let pushed = try #require(slots.pushing(Self.row(999, micros: 2_000_000), createdAtMicroseconds: 2_000_000, limit: limit, onto: body))
            #expect(pushed.slots == FeedPageSlots.scan(pushed.body), "\(count) rows, limit \(limit)")
            #expect(pushed.slots.rows.count == min(count + 1, limit))
            #expect(pushed.slots.rows.first?.id.hasSuffix("000000000999") == true)
            #expect((try JSONSerialization.jsonObject(with: Data(pushed.body.readableBytesView)) as? [Any])?.count == min(count + 1, limit))
            if count > 0 {
                #expect(slots.pushing(Self.row(998, micros: 1_000_000), createdAtMicroseconds: 1_000_000, limit: limit, onto: body) == nil)
            }
        }
    }

    @Test("a page cut at a cursor: the rows after it, as if scanned anew; nil past a window that is not the whole feed")
    func cutting() throws {
        let body = Self.page((0..<10).reversed())
        let slots = try #require(FeedPageSlots.scan(body))
        for start in 0..<10 {
            for limit in [1, 3, 4] {
                let cursor = start == 0 ? nil : slots.rows[start - 1].cursor
                let complete = try #require(slots.page(after: cursor, limit: limit, complete: true, of: body))
                #expect(complete.slots == FeedPageSlots.scan(complete.body) || complete.slots.rows.isEmpty)
                #expect(complete.slots.rows.map(\.id) == slots.rows[start..<min(10, start + limit)].map(\.id))
                let partial = slots.page(after: cursor, limit: limit, complete: false, of: body)
                #expect((partial == nil) == (10 - start < limit), "start \(start), limit \(limit)")
            }
        }
        #expect(slots.page(after: "not-a-cursor-here", limit: 3, complete: true, of: body) == nil)
        let end = try #require(slots.page(after: slots.rows.last?.cursor, limit: 3, complete: true, of: body))
        #expect(String(buffer: end.body) == "[]")
    }
}
