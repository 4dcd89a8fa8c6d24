import Synchronization

/// Where a request is now (waiting for a connection, in its query, committing…), kept per request
/// so that a shutdown out of time, or an operator, can see what each request still waits for.
/// The HTTP layer binds a `RequestProgress` for each request; the code below marks its stages.
public final class RequestProgress: Sendable {
    private let stage = Mutex("started")
    public init() {}
    public var current: String { stage.withLock { $0 } }
    func set(_ value: String) { stage.withLock { $0 = value } }
}

public enum RequestStage {
    @TaskLocal public static var progress: RequestProgress?

    /// Marks the current request (if any) as being at `stage`.
    public static func mark(_ stage: String) { progress?.set(stage) }
}
