/// What a cached answer depends on, so that a write can drop exactly the answers it changes:
/// `home:<user>`, `profile:<id>`, `entity:<id>`, `nearby:*`, and `viewer:<user>` (everything one
/// viewer sees, dropped when their follows or blocks change).
public struct CacheTag: Hashable, Sendable, CustomStringConvertible {
    public let kind: String
    public let id: String

    public init(_ kind: String, _ id: String) {
        self.kind = kind
        self.id = id
    }

    public static func home(_ user: String) -> CacheTag { CacheTag("home", user) }
    public static func profile(_ profile: String) -> CacheTag { CacheTag("profile", profile) }
    public static func entity(_ entity: String) -> CacheTag { CacheTag("entity", entity) }
    public static func viewer(_ user: String) -> CacheTag { CacheTag("viewer", user) }
    public static let nearby = CacheTag("nearby", "*")

    public var description: String { "\(kind):\(id)" }
}
