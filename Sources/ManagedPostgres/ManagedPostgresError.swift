/// Something went wrong starting or stopping the managed PostgreSQL; the message says what to do.
public struct ManagedPostgresError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
