import Foundation
import Logging
import Redis
import ServiceLifecycle
import Synchronization

/// Receives the other instances' invalidations through Redis pub/sub and drops this instance's
/// copies at once — usually before the same write's `NOTIFY` arrives, which remains the guarantee.
/// After a lost subscription Redis may have restarted from an old snapshot, so its answers are
/// flushed before they are used again.
public struct SharedCacheSubscriber: Service {
    let cache: ResponseCache
    let shared: SharedCache
    let logger: Logger

    public init(cache: ResponseCache, shared: SharedCache, logger: Logger) {
        self.cache = cache
        self.shared = shared
        self.logger = logger
    }

    public func run() async throws {
        let subscriber = RedisSubscriber(endpoint: shared.redis.configuration.endpoint, channels: [SharedCache.channel], logger: logger)
        let subscriptions = Counter()
        let cache = cache, shared = shared, logger = logger
        await cancelWhenGracefulShutdown {
            await subscriber.run(subscribed: {
                if subscriptions.next() > 1 { shared.requireFlush() }
            }) { _, payload in
                guard let announcement = try? JSONDecoder().decode(SharedCache.Announcement.self, from: Data(buffer: payload)) else {
                    logger.warning("unreadable shared cache announcement; cache dropped")
                    cache.invalidateAll()
                    return
                }
                if announcement.from != shared.instance { cache.apply(announcement) }
            }
        }
    }
}

/// Counts (re)subscriptions.
private final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}
