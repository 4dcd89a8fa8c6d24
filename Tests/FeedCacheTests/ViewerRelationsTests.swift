import Foundation
import Synchronization
import Testing

@testable import FeedCache

/// A follow's announcement corrects the follower's kept relations in place (migration 0036 says the
/// follow's status) instead of dropping them; what it cannot settle still drops them.
@Suite("Viewer relations corrected by follows")
struct ViewerRelationsTests {
    static let viewer = "6f1c2b1e-0000-4000-8000-000000000001"
    static let profile = UUID(uuidString: "6f1c2b1e-0000-4000-8000-000000000002")!

    static func event(_ json: String) throws -> InvalidationEvent {
        try #require(InvalidationEvent.decode(json))
    }

    @Test("what a follow event says about the follower's relations")
    func relationsChange() throws {
        let base = #""t":"follow","u":"\#(Self.viewer)","a":"\#(Self.profile.uuidString)","e":[]"#
        #expect(try Self.event("{\(base),\"op\":\"INSERT\",\"s\":\"accepted\"}").relationsChange == .profile(Self.profile, following: true))
        // A request to a private profile: not followed until accepted.
        #expect(try Self.event("{\(base),\"op\":\"INSERT\",\"s\":\"pending\"}").relationsChange == .profile(Self.profile, following: false))
        #expect(try Self.event("{\(base),\"op\":\"DELETE\",\"s\":\"accepted\"}").relationsChange == .profile(Self.profile, following: false))
        // Accepted later, or announced without the status (before migration 0036): read them again.
        #expect(try Self.event("{\(base),\"op\":\"UPDATE\",\"s\":\"accepted\"}").relationsChange == .unknown)
        #expect(try Self.event("{\(base),\"op\":\"INSERT\"}").relationsChange == .unknown)
        // An entity follow: relations name profiles only.
        let entity = #"{"t":"follow","u":"\#(Self.viewer)","a":null,"e":["\#(Self.profile.uuidString)"],"op":"INSERT","s":"accepted"}"#
        #expect(try Self.event(entity).relationsChange == InvalidationEvent.RelationsChange.none)
    }

    @Test("a follow is applied to kept relations, and a load that started before it is not stored")
    func recordFollow() {
        var now = ContinuousClock.now
        let clock = Mutex(now)
        let store = ViewerRelationsStore(ttl: .seconds(60), maxEntries: 10) { clock.withLock { $0 } }
        let loaded = ViewerRelations(blockPartners: [], blockedBy: [], followed: [], liked: [], admin: false, loadedAt: now)
        store.store(Self.viewer, loaded)
        now += .seconds(1)
        clock.withLock { $0 = now }
        store.recordFollow(viewer: Self.viewer, profile: Self.profile, following: true)
        #expect(store.cached(Self.viewer)?.followed == [Self.profile])
        store.recordFollow(viewer: Self.viewer, profile: Self.profile, following: false)
        #expect(store.cached(Self.viewer)?.followed == [])
        // Read before the follow was applied: it may predate it.
        store.forget(Self.viewer)
        let stale = ViewerRelations(blockPartners: [], blockedBy: [], followed: [], liked: [], admin: false, loadedAt: now - .milliseconds(500))
        now += .seconds(1)
        clock.withLock { $0 = now }
        store.recordFollow(viewer: Self.viewer, profile: Self.profile, following: true)
        store.store(Self.viewer, stale)
        #expect(store.cached(Self.viewer) == nil)
    }

    @Test("which viewers follow a new post's author, by kept relations; viewers with none kept (or expired) are told apart")
    func followersAmongViewers() {
        var now = ContinuousClock.now
        let clock = Mutex(now)
        let store = ViewerRelationsStore(ttl: .seconds(60), maxEntries: 10) { clock.withLock { $0 } }
        let other = UUID()
        let (follower, both, stranger, expired, unknown) = ("v-follower", "v-both", "v-stranger", "v-expired", "v-unknown")
        func relations(_ followed: Set<UUID>) -> ViewerRelations {
            ViewerRelations(blockPartners: [], blockedBy: [], followed: followed, liked: [], admin: false, loadedAt: now)
        }
        store.store(expired, relations([Self.profile]))
        now += .seconds(50)
        clock.withLock { $0 = now }
        store.store(follower, relations([Self.profile]))
        store.store(both, relations([Self.profile, other]))
        store.store(stranger, relations([other]))
        now += .seconds(20)  // the first entry's TTL has passed
        clock.withLock { $0 = now }
        let found = store.followers(of: [Self.profile, other], among: [follower, both, stranger, expired, unknown])
        #expect(found.following[Self.profile] == [follower, both])
        #expect(found.following[other] == [both, stranger])
        #expect(Set(found.unknown) == [expired, unknown])
        // A follow applied in place is seen by the next pass.
        store.recordFollow(viewer: stranger, profile: Self.profile, following: true)
        store.recordFollow(viewer: both, profile: Self.profile, following: false)
        #expect(store.followers(of: [Self.profile], among: [follower, both, stranger]).following[Self.profile] == [follower, stranger])
    }
}
