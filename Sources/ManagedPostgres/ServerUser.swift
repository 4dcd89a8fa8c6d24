#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Who the PostgreSQL server processes run as.
///
/// PostgreSQL refuses to run as root. When FeedFusion itself runs as root (containers, CI), the
/// server binaries are started as the system's `postgres` user through `setpriv`, which `exec`s
/// straight into the binary so that the child we signal is the postmaster itself.
struct ServerUser: Sendable {
    let uid: uid_t
    let gid: gid_t
    /// Prefix that drops privileges, empty when we are not root.
    let commandPrefix: [String]

    static func current() throws -> ServerUser {
        guard geteuid() == 0 else {
            return ServerUser(uid: geteuid(), gid: getegid(), commandPrefix: [])
        }
        guard let entry = getpwnam("postgres") else {
            throw ManagedPostgresError(
                "running as root needs the system user 'postgres' (install postgresql-15) or a DATABASE_URL")
        }
        return ServerUser(
            uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid,
            commandPrefix: ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"])
    }

    /// Hands a path we created to the server user, so the server may write there.
    func takeOwnership(of url: URL) throws {
        guard !commandPrefix.isEmpty else { return }
        if chown(url.path, uid, gid) != 0 {
            throw ManagedPostgresError("cannot hand \(url.path) to the postgres user: \(String(cString: strerror(errno)))")
        }
    }
}
