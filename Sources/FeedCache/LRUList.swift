/// Recency order of keys in O(1): a doubly linked list threaded through arrays, with a free list,
/// so moving a key to the front or dropping the oldest allocates nothing once warm.
struct LRUList<Key: Hashable> {
    private var slots: [Key: Int] = [:]
    private var keys: [Key?] = []
    private var previous: [Int] = []
    private var next: [Int] = []
    private var free: [Int] = []
    /// Most recently used, and least recently used; -1 when empty.
    private var head = -1
    private var tail = -1

    var count: Int { slots.count }

    /// The key whose last use is oldest.
    var leastRecent: Key? { tail >= 0 ? keys[tail] : nil }

    /// Marks `key` as just used, adding it when new.
    mutating func touch(_ key: Key) {
        if let slot = slots[key] {
            guard slot != head else { return }
            unlink(slot)
            pushFront(slot)
            return
        }
        let slot: Int
        if let reused = free.popLast() {
            slot = reused
            keys[slot] = key
        } else {
            slot = keys.count
            keys.append(key)
            previous.append(-1)
            next.append(-1)
        }
        slots[key] = slot
        pushFront(slot)
    }

    mutating func remove(_ key: Key) {
        guard let slot = slots.removeValue(forKey: key) else { return }
        unlink(slot)
        keys[slot] = nil
        free.append(slot)
    }

    mutating func removeAll() {
        self = LRUList()
    }

    private mutating func unlink(_ slot: Int) {
        let before = previous[slot], after = next[slot]
        if before >= 0 { next[before] = after } else { head = after }
        if after >= 0 { previous[after] = before } else { tail = before }
        previous[slot] = -1
        next[slot] = -1
    }

    private mutating func pushFront(_ slot: Int) {
        previous[slot] = -1
        next[slot] = head
        if head >= 0 { previous[head] = slot }
        head = slot
        if tail < 0 { tail = slot }
    }
}
