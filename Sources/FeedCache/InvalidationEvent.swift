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
    /// A follow's status (`accepted`, `pending`; migration 0036).
    let s: String?

    /// What a follow event does to the follower's kept relations (which name their accepted follows
    /// of profiles): nothing (an entity), a profile followed or no longer (`following`), or unknown
    /// (an update, or an announcement without the status): the relations must be read again.
    enum RelationsChange: Equatable {
        case none
        case profile(UUID, following: Bool)
        case unknown
    }

    var relationsChange: RelationsChange {
        guard t == .follow else { return .unknown }
        guard let profile = a else { return .none }
        switch (op, s) {
        case ("DELETE", _): return .profile(profile, following: false)
        case ("INSERT", let status?): return .profile(profile, following: status == "accepted")
        default: return .unknown
        }
    }

    static func decode(_ payload: String) -> InvalidationEvent? {
        try? JSONDecoder().decode(InvalidationEvent.self, from: Data(payload.utf8))
    }
}

extension CacheTag {
    /// Tag ids of users, profiles and entities: lower-case UUIDs, as the HTTP layer writes them.
    public static func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }
}
