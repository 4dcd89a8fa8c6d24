import Foundation

/// The in-process answer cache in front of the feed RPCs, and the HTTP caching headers.
public struct CacheSettings: Sendable {
    public var enabled: Bool = true
    /// How long an answer is fresh; writes drop affected answers sooner (this is only the safety net:
    /// every write that changes a feed is announced and drops or corrects exactly what it changed, so
    /// the TTL bounds how long an answer lives, not how stale it may be; 5 minutes keeps the less
    /// popular profiles' pages between their readers, which 60 s did not).
    public var ttlSeconds: Int = 300
    /// How long past its expiry an answer may still be served when the database fails or is slow.
    public var staleSeconds: Int = 300
    /// A refresh slower than this is answered from a stale entry (when there is one) meanwhile.
    public var staleIfSlowerMilliseconds: Int = 1000
    public var maxEntries: Int = 10_000
    /// Room for about 3,000 home windows (60 rows each) besides the shared pages.
    public var maxMegabytes: Int = 256
    /// XFetch's β (probabilistic early refresh): 0 turns early refresh off.
    public var xfetchBeta: Double = 1
    /// Each answer lives between (1 − jitter)·TTL and the TTL, at random, so that answers computed
    /// together do not expire together (a 1,000-user arrival came back as a second storm a TTL later).
    public var ttlJitter: Double = 0.25
    /// How long a home window lives unread: kept correct by fan-out and follow merges, so this is how
    /// long an idle reader's timeline stays built, not how stale it may be.
    public var windowTTLSeconds: Int = 600
    /// How many home windows are built at once for users whose session just started (sign-in,
    /// refresh): 0 builds none ahead of the first read. Two keeps a burst of sign-ins from taking
    /// more than two pool connections from the requests.
    public var prepareConcurrency: Int = 2
    /// How many of the most-followed profiles' and entities' first pages are computed when the server
    /// starts (`SharedPagePrimer`), one at a time: 0 computes none ahead of their first readers.
    public var primePages: Int = 3000
    /// RPCs answered from the cache (`/rest/v1/rpc/<name>`, POST and GET).
    public var functions: Set<String> = ["feed_fusion_home", "feed_fusion_profile", "feed_fusion_entity", "feed_fusion_nearby"]
    /// `Cache-Control` of anonymous GET reads: browsers keep them `max-age`, shared caches (CDNs) `s-maxage`.
    public var publicMaxAge: Int = 10
    public var publicSharedMaxAge: Int = 60
    public var publicStaleWhileRevalidate: Int = 30

    public init() {}
}

extension CacheSettings {
    init(reader: SettingsReader) throws {
        self.init()
        enabled = try reader.boolean("CACHE_ENABLED") ?? enabled
        ttlSeconds = try reader.integer("CACHE_TTL_SECONDS", in: 1...86_400) ?? ttlSeconds
        staleSeconds = try reader.integer("CACHE_STALE_SECONDS", in: 0...86_400) ?? staleSeconds
        staleIfSlowerMilliseconds = try reader.integer("CACHE_STALE_IF_SLOWER_MS", in: 1...600_000) ?? staleIfSlowerMilliseconds
        maxEntries = try reader.integer("CACHE_MAX_ENTRIES", in: 1...10_000_000) ?? maxEntries
        maxMegabytes = try reader.integer("CACHE_MAX_MB", in: 1...65_536) ?? maxMegabytes
        xfetchBeta = try reader.number("CACHE_XFETCH_BETA", in: 0...100) ?? xfetchBeta
        ttlJitter = try reader.number("CACHE_TTL_JITTER", in: 0...0.9) ?? ttlJitter
        windowTTLSeconds = try reader.integer("CACHE_WINDOW_TTL_SECONDS", in: 1...86_400) ?? windowTTLSeconds
        prepareConcurrency = try reader.integer("CACHE_PREPARE_CONCURRENCY", in: 0...64) ?? prepareConcurrency
        primePages = try reader.integer("CACHE_PRIME_PAGES", in: 0...1_000_000) ?? primePages
        if let names = try reader.string("CACHE_FUNCTIONS") {
            functions = Set(names.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        publicMaxAge = try reader.integer("CACHE_PUBLIC_MAX_AGE", in: 0...86_400) ?? publicMaxAge
        publicSharedMaxAge = try reader.integer("CACHE_PUBLIC_S_MAXAGE", in: 0...86_400) ?? publicSharedMaxAge
        publicStaleWhileRevalidate = try reader.integer("CACHE_PUBLIC_STALE_WHILE_REVALIDATE", in: 0...86_400)
            ?? publicStaleWhileRevalidate
    }
}
