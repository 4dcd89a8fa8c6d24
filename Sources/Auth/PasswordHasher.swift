import HummingbirdBcrypt
import NIOPosix

/// bcrypt on NIO's blocking thread pool, so that one sign-in never stalls the event loops.
public struct PasswordHasher: Sendable {
    public let cost: Int
    /// A hash of a random password at the same cost: verifying against it makes a sign-in with an
    /// unknown email take as long as one with a wrong password.
    private let dummyHash: String

    public init(cost: Int) {
        self.cost = cost
        dummyHash = Bcrypt.hash(randomPassword(), cost: UInt8(cost))
    }

    public func hash(_ password: String) async throws -> String {
        let cost = UInt8(cost)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is none.
    public func verify(_ password: String, hash: String?) async throws -> Bool {
        let target = hash ?? dummyHash
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: target) }
        return matches && hash != nil
    }
}

private func randomPassword() -> String {
    String((0..<24).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
}
