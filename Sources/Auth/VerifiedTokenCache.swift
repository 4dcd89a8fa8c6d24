import Database
import Foundation
import Synchronization

/// Remembers tokens that verified, so that the `apikey` every request repeats (and a user's access
/// token, used for many requests until it expires) is not decoded and HMAC-checked again each time.
///
/// Only successful verifications are stored, with the token's time bounds: an entry is used only
/// while `nbf ≤ now < exp`, so a cached token expires exactly when its claims say. Bounded: when it is
/// full it starts over, so many distinct valid tokens cannot grow it without limit.
final class VerifiedTokenCache: Sendable {
    struct Entry: Sendable {
        let caller: Caller
        let notBefore: Date?
        let expires: Date?
    }

    let capacity: Int
    private let state = Mutex(State())

    private struct State {
        var entries: [String: Entry] = [:]
    }

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// The cached caller, `.expired` once the token's `exp` has passed, or nil when not cached
    /// (or not yet valid: then the full verification gives the right error).
    func caller(forToken token: String, now: Date = Date()) -> Result<Caller, AuthenticationError>? {
        guard let entry = state.withLock({ $0.entries[token] }) else { return nil }
        if let expires = entry.expires, now >= expires {
            state.withLock { _ = $0.entries.removeValue(forKey: token) }
            return .failure(.expired)
        }
        if let notBefore = entry.notBefore, now < notBefore { return nil }
        return .success(entry.caller)
    }

    func insert(_ entry: Entry, forToken token: String) {
        state.withLock { state in
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[token] = entry
        }
    }
}
