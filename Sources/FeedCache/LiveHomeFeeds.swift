import Foundation

/// Home feeds open live (the realtime home channel): the fan-out that pushes a new post onto the
/// cached homes it belongs to also hands it to these, as the database said each viewer sees it —
/// no query per subscriber.
public protocol LiveHomeFeeds: Sendable {
    /// The viewers with a live home open now.
    func liveViewers() -> Set<UUID>
    /// A new post in `viewer`'s home: a feed row (JSON), with the reasons it is there.
    func deliver(_ item: String, toHomeOf viewer: UUID)
}
