import Database
import Foundation
import NIOCore

/// Where the live numbers are in a stored feed page: for each row (a top-level object of a JSON
/// array, or the one object of a single-object answer) the byte ranges of its `like_count` and
/// `liked_by_viewer` values, with its `id`. Found once, when the page is stored, by one pass over
/// the bytes (no JSON objects built); a hit then splices new values in only where they changed.
public struct FeedPageSlots: Sendable, Equatable {
    public struct Row: Sendable, Equatable {
        public let id: String
        public let likeCount: Range<Int>?
        public let likedByViewer: Range<Int>?
        /// The whole row, `{` to `}`, and its keyset cursor (to place a new row above it).
        public var bytes: Range<Int> = 0..<0
        public var cursor: String? = nil

        /// The same row `shift` bytes further on.
        func moved(by shift: Int) -> Row {
            func move(_ range: Range<Int>) -> Range<Int> { (range.lowerBound + shift)..<(range.upperBound + shift) }
            return Row(id: id, likeCount: likeCount.map(move), likedByViewer: likedByViewer.map(move), bytes: move(bytes), cursor: cursor)
        }
    }

    public let rows: [Row]

    /// The slots of an empty page (`[]`).
    public static let empty = FeedPageSlots(rows: [])

    /// The slots of `body`, or nil when it is not JSON rows with an `id` and a counter.
    public static func scan(_ body: ByteBuffer) -> FeedPageSlots? {
        body.withUnsafeReadableBytes { bytes -> FeedPageSlots? in
            var index = 0
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\n") { index += 1 }
            guard index < bytes.count else { return nil }
            // Rows are the objects at depth 2 in an array, or the object at depth 1.
            let rowDepth = bytes[index] == UInt8(ascii: "[") ? 2 : 1
            var rows: [Row] = []
            var depth = 0
            var inString = false, escaped = false
            var stringStart = 0
            var expectingKey = false
            var key: Substring?  // the row-level key whose value is being read
            var valueStart = -1
            var id: String?, likeCount: Range<Int>?, liked: Range<Int>?, cursor: String?
            var rowStart = 0

            func finishValue(at end: Int) {
                guard let current = key, valueStart >= 0 else { return }
                var start = valueStart, stop = end
                while start < stop, bytes[start] == UInt8(ascii: " ") { start += 1 }
                while stop > start, bytes[stop - 1] == UInt8(ascii: " ") { stop -= 1 }
                switch current {
                case "id" where stop - start >= 2 && bytes[start] == UInt8(ascii: "\""):
                    id = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<(stop - 1)]), as: UTF8.self)
                case "cursor" where stop - start >= 2 && bytes[start] == UInt8(ascii: "\""):
                    cursor = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<(stop - 1)]), as: UTF8.self)
                case "like_count": likeCount = start..<stop
                case "liked_by_viewer": liked = start..<stop
                default: break
                }
                key = nil
                valueStart = -1
            }

            while index < bytes.count {
                let byte = bytes[index]
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                        if expectingKey, depth == rowDepth {
                            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[stringStart..<index]), as: UTF8.self)
                            key = Substring(name)
                            expectingKey = false
                        }
                    }
                    index += 1
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""):
                    inString = true
                    stringStart = index + 1
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    if depth == rowDepth, byte == UInt8(ascii: "{") {
                        expectingKey = true
                        id = nil
                        likeCount = nil
                        liked = nil
                        cursor = nil
                        rowStart = index
                    }
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if depth == rowDepth {
                        finishValue(at: index)
                        if byte == UInt8(ascii: "}") {
                            guard let rowID = id, likeCount != nil || liked != nil else { return nil }
                            rows.append(Row(id: rowID, likeCount: likeCount, likedByViewer: liked, bytes: rowStart..<(index + 1), cursor: cursor))
                        }
                    }
                    depth -= 1
                case UInt8(ascii: ":") where depth == rowDepth && key != nil && valueStart < 0:
                    valueStart = index + 1
                case UInt8(ascii: ","):
                    if depth == rowDepth {
                        finishValue(at: index)
                        expectingKey = true
                    }
                default: break
                }
                index += 1
            }
            return rows.isEmpty || depth != 0 ? nil : FeedPageSlots(rows: rows)
        }
    }

    /// What putting a new row onto a page came to.
    public enum Insertion: Equatable {
        /// The page with the row in its place, cut back to its limit, and its slots.
        case changed(ByteBuffer, FeedPageSlots)
        /// The row does not change the page: it is already on it (the page was computed after the
        /// post), or it belongs below a full page.
        case unchanged
        /// Not a page or a row this can place (no cursor to order by): drop the page instead.
        case refused
    }

    /// A feed page (newest first, keyset order: creation time, then id, both descending) with `row`
    /// (one feed row's JSON) put in its place and cut back to `limit` rows — at the top for a new
    /// post, lower for one whose transaction began before rows already shown (posts are stamped
    /// when their transaction starts and announced when it commits, so under load they arrive out
    /// of order). The slots are the old ones moved plus the new row's, found by scanning it alone.
    public func inserting(_ row: String, limit: Int, onto body: ByteBuffer) -> Insertion {
        let bytes = body.readableBytesView
        guard bytes.first == UInt8(ascii: "["), limit >= 1, let new = Self.scan(ByteBuffer(string: row))?.rows.first,
            let newKey = new.cursor.flatMap(Self.cursorKey)
        else { return .refused }
        if rows.contains(where: { $0.id == new.id }) { return .unchanged }
        var position = rows.count
        for (index, existing) in rows.enumerated() {
            guard let key = existing.cursor.flatMap(Self.cursorKey) else { return .refused }
            if key < newKey {
                position = index
                break
            }
        }
        guard position < limit else { return .unchanged }
        let head = rows[0..<position]
        let tail = rows[position..<min(rows.count, limit - 1)]
        var output = ByteBuffer()
        output.reserveCapacity(body.readableBytes + row.utf8.count + 2)
        output.writeString("[")
        var slots: [Row] = []
        func copy(_ part: ArraySlice<Row>) {
            guard let first = part.first, let last = part.last else { return }
            let shift = output.writerIndex - first.bytes.lowerBound
            output.writeBytes(bytes[(bytes.startIndex + first.bytes.lowerBound)..<(bytes.startIndex + last.bytes.upperBound)])
            slots += part.map { $0.moved(by: shift) }
        }
        copy(head)
        if !head.isEmpty { output.writeString(",") }
        slots.append(new.moved(by: output.writerIndex))
        output.writeString(row)
        if !tail.isEmpty { output.writeString(",") }
        copy(tail)
        output.writeString("]")
        return .changed(output, FeedPageSlots(rows: slots))
    }

    /// A feed page with some posts' rows changed at once (`changes`: post id → its row now, or nil
    /// when it left the feed): a changed row replaces the old one, a new one goes in its keyset
    /// place, a gone one is taken out; then cut back to `limit`. What a follow or an unfollow does to
    /// a home window (Mastodon's merge into / unmerge from home). Nil when a row has no cursor to
    /// order by (drop the page instead).
    public func merging(_ changes: [String: String?], limit: Int, onto body: ByteBuffer) -> (body: ByteBuffer, slots: FeedPageSlots)? {
        let bytes = body.readableBytesView
        guard bytes.first == UInt8(ascii: "["), limit >= 1 else { return nil }
        var kept: [(key: CursorKey, row: String)] = []
        for row in rows where changes[row.id] == nil {
            guard let key = row.cursor.flatMap(Self.cursorKey) else { return nil }
            kept.append((key, String(decoding: bytes[(bytes.startIndex + row.bytes.lowerBound)..<(bytes.startIndex + row.bytes.upperBound)], as: UTF8.self)))
        }
        for case let (_, row?) in changes {
            guard let cursor = Self.scan(ByteBuffer(string: row))?.rows.first?.cursor, let key = Self.cursorKey(cursor) else { return nil }
            kept.append((key, row))
        }
        kept.sort { $0.key > $1.key }
        let output = ByteBuffer(string: "[" + kept.prefix(limit).map(\.row).joined(separator: ",") + "]")
        guard let slots = kept.isEmpty ? .empty : Self.scan(output) else { return nil }
        return (output, slots)
    }

    /// A cursor's place in keyset order (base64url of "<microseconds>~<id>", migration 0009):
    /// compared as the feeds order rows, time then id (PostgreSQL compares uuids as their bytes,
    /// which is the order of their lower-case text).
    struct CursorKey: Comparable {
        let microseconds: Int64
        let id: String
        static func < (a: CursorKey, b: CursorKey) -> Bool {
            a.microseconds != b.microseconds ? a.microseconds < b.microseconds : a.id < b.id
        }
    }

    /// Decoded by hand (`Base64URL`): every push and merge orders a window's rows by it.
    static func cursorKey(_ cursor: String) -> CursorKey? {
        guard let text = Base64URL.decode(cursor), let tilde = text.firstIndex(of: UInt8(ascii: "~")),
            let micros = Int64(String(decoding: text[..<tilde], as: UTF8.self)),
            let id = String(validating: text[(tilde + 1)...], as: UTF8.self)
        else { return nil }
        return CursorKey(microseconds: micros, id: id.lowercased())
    }

    /// The page a keyset cursor asks for, cut from a cached window of a feed's newest rows (`body`,
    /// whose slots these are): the `limit` rows after the row whose cursor is `cursor` (from the
    /// top when nil), with their slots. `complete` says the window holds the whole feed (it was
    /// computed with fewer rows than asked), so a short page is the true answer; otherwise a page
    /// running past the window's end, or a cursor not in it, is nil: the caller asks the database.
    public func page(after cursor: String?, limit: Int, complete: Bool, of body: ByteBuffer) -> (body: ByteBuffer, slots: FeedPageSlots)? {
        let start: Int
        if let cursor {
            guard let index = rows.firstIndex(where: { $0.cursor == cursor }) else { return nil }
            start = index + 1
        } else {
            start = 0
        }
        guard limit >= 1, complete || rows.count - start >= limit else { return nil }
        let chosen = rows[start..<min(rows.count, start + limit)]
        guard let first = chosen.first, let last = chosen.last else {
            return (ByteBuffer(string: "[]"), .empty)
        }
        let bytes = body.readableBytesView
        var output = ByteBuffer()
        output.reserveCapacity(last.bytes.upperBound - first.bytes.lowerBound + 2)
        output.writeString("[")
        output.writeBytes(bytes[(bytes.startIndex + first.bytes.lowerBound)..<(bytes.startIndex + last.bytes.upperBound)])
        output.writeString("]")
        // The same rows, one byte after where they began in the window.
        return (output, FeedPageSlots(rows: chosen.map { $0.moved(by: 1 - first.bytes.lowerBound) }))
    }

    /// `body` with each counter that `likeCount`/`liked` report differently, or nil when none does.
    public func patched(
        _ body: ByteBuffer, likeCount: (String) -> Int?, liked: (String) -> Bool?
    ) -> ByteBuffer? {
        var edits: [(Range<Int>, String)] = []
        body.withUnsafeReadableBytes { bytes in
            func current(_ range: Range<Int>) -> Substring {
                Substring(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self))
            }
            for row in rows {
                if let range = row.likeCount, let value = likeCount(row.id), current(range) != "\(value)" {
                    edits.append((range, "\(value)"))
                }
                if let range = row.likedByViewer, let value = liked(row.id), current(range) != "\(value)" {
                    edits.append((range, "\(value)"))
                }
            }
        }
        guard !edits.isEmpty else { return nil }
        edits.sort { $0.0.lowerBound < $1.0.lowerBound }
        let bytes = body.readableBytesView
        var output = ByteBuffer()
        output.reserveCapacity(body.readableBytes + edits.count * 8)
        var position = bytes.startIndex
        for (range, text) in edits {
            output.writeBytes(bytes[position..<(bytes.startIndex + range.lowerBound)])
            output.writeString(text)
            position = bytes.startIndex + range.upperBound
        }
        output.writeBytes(bytes[position...])
        return output
    }
}
