extension ResponseCache {
    /// Drops answers in this instance and, with a shared level, in Redis for every instance. Redis
    /// goes first: otherwise this instance could refill itself from a shared answer the write outdated.
    public func invalidateEverywhere(_ tags: [CacheTag], kinds: [String] = []) async {
        await shared?.invalidate(tags, kinds: kinds)
        invalidate(tags, kinds: kinds)
    }

    /// Drops this instance's answers carrying one of `tags` or a tag of one of `kinds`.
    func invalidate(_ tags: [CacheTag], kinds: [String]) {
        invalidate(tags)
        for kind in kinds { invalidate(kind: kind) }
    }

    /// Drops everything here and every shared answer in Redis (when this instance may have missed
    /// invalidation events); the other instances keep their own copies, which they keep exact themselves.
    public func invalidateAllEverywhere() async {
        await shared?.invalidate([], all: true)
        invalidateAll()
    }

    /// Applies what another instance announced through Redis to this instance's copies.
    func apply(_ announcement: SharedCache.Announcement) {
        invalidate(announcement.tags.compactMap(CacheTag.init(description:)), kinds: announcement.kinds)
    }
}

extension CacheTag {
    /// Reads `kind:id` back.
    public init?(description: String) {
        guard let colon = description.firstIndex(of: ":") else { return nil }
        self.init(String(description[..<colon]), String(description[description.index(after: colon)...]))
    }
}
