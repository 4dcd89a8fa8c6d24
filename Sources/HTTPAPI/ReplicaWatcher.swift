import Database
import ServiceLifecycle

/// Keeps the read replicas' positions current while the server runs (`ReadReplicas.watch`).
struct ReplicaWatcher: Service {
    let replicas: ReadReplicas

    func run() async throws {
        await cancelWhenGracefulShutdown { await replicas.watch() }
    }
}
