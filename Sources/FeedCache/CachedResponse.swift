import Crypto
import Database
import Foundation
import NIOCore

/// An answer as the database produced it, kept byte for byte: a hit costs no JSON work.
public struct CachedResponse: Sendable {
    public let status: Int
    public let contentType: String
    public let contentRange: String?
    public let body: ByteBuffer
    /// The body gzipped, when it is worth compressing: done once per computation, not per hit.
    public private(set) var gzipped: ByteBuffer?
    /// Strong validator of the body, computed once when stored.
    public let etag: String
    /// Where the live counters are in a JSON feed page (nil for anything else), found once here.
    public let slots: FeedPageSlots?
    /// For an anonymous page that signed-in viewers may share: what the database said about the
    /// posts it was chosen from (set when it was computed; absent on a copy read back from Redis).
    public var sharing: PageFacts?
    /// A home window that lost rows (an unfollow took posts out of a full one): it still holds every
    /// row above its last, but no longer the whole feed even though it is short.
    public var incomplete = false

    public init(status: Int, contentType: String, contentRange: String?, body: ByteBuffer, gzipped: ByteBuffer? = nil) {
        self.status = status
        self.contentType = contentType
        self.contentRange = contentRange
        self.body = body
        self.gzipped = gzipped
        etag = Self.etag(of: body)
        slots = contentType.contains("json") ? FeedPageSlots.scan(body) : nil
    }

    /// A part of `window` (a page cut from it): its status and type, these bytes and their slots.
    public init(body: ByteBuffer, slots: FeedPageSlots, of window: CachedResponse) {
        status = window.status
        contentType = window.contentType
        contentRange = Self.contentRange(rows: slots.rows.count)
        self.body = body
        gzipped = nil
        etag = Self.etag(of: body)
        self.slots = slots
        incomplete = window.incomplete
    }

    /// `response` with `gzipped` as its body's compressed copy (made once for a page the cache reshaped).
    public init(_ response: CachedResponse, gzipped: ByteBuffer?) {
        self = response
        self.gzipped = gzipped
    }

    /// The slots of a feed page, an empty one (`[]`, which has none to scan) included; nil for
    /// anything that is not a feed page.
    public var pageSlots: FeedPageSlots? {
        slots ?? (String(buffer: body).trimmingCharacters(in: .whitespaces) == "[]" ? .empty : nil)
    }

    /// The posts of a feed page's rows, in order (none for anything else).
    public var rowIDs: [UUID] {
        (slots?.rows ?? []).compactMap { UUID(uuidString: $0.id) }
    }

    /// PostgREST's `Content-Range` for the first `rows` rows of a result of unknown size.
    public static func contentRange(rows: Int) -> String {
        rows == 0 ? "*/*" : "0-\(rows - 1)/*"
    }

    /// `"<first 16 bytes of SHA-256, hex>"`: strong, and the same on every server instance.
    public static func etag(of body: ByteBuffer) -> String {
        let digest = body.withUnsafeReadableBytes { SHA256.hash(data: $0) }
        return "\"" + digest.prefix(16).hexEncoded + "\""
    }
}
