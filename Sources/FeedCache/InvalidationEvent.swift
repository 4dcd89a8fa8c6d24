import Foundation

/// What a trigger announced on `feedfusion_cache` (migration 0011), decoded.
struct InvalidationEvent: Decodable, Sendable {
    enum Kind: String, Decodable, Sendable {
        /// A post was written, edited, liked or deleted (`a` author, `e`/`p` its targets, `loc` located).
        case post
        /// A post gained or lost a target.
        case target
        /// Blocks of these users changed: everything they see may change.
        case viewers
        /// `u` followed or unfollowed (`op`) profile `a` or entity `e` (migration 0035): their home
        /// window is merged, what else they see is dropped.
        case follow
        /// A profile changed (name, avatar, privacy): every feed showing its posts may change.
        case profile
        /// Anything else (an entity renamed, a table truncated): drop everything.
        case all
        /// A like or unlike (`id` the post, `n` its like_count now, `u` who, `l` liked): counters
        /// change in place (`LiveCounters`), no page is dropped.
        case like
        /// A write transaction's last notification (`f` its token): everything it announced is applied.
        case fence
    }

    let t: Kind
    let a: UUID?
    let e: [UUID]?
    let p: [UUID]?
    let v: [UUID]?
    let loc: Bool?
    let f: UUID?
    let id: UUID?
    /// The post's operation (`INSERT`, `UPDATE`, `DELETE`) and, for a post, its creation time (µs).
    let op: String?
    let at: Int64?
    let n: Int?
    let u: UUID?
    let l: Bool?

    static func decode(_ payload: String) -> InvalidationEvent? {
        try? JSONDecoder().decode(InvalidationEvent.self, from: Data(payload.utf8))
    }
}

extension CacheTag {
    /// Tag ids of users, profiles and entities: lower-case UUIDs, as the HTTP layer writes them.
    public static func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }
}
