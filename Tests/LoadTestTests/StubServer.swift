import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A stand-in for FeedFusion that answers the routes the load generator uses, with latencies a
/// test sets: a slow function, or a stall of every answer until a given instant.
final class StubServer: Sendable {
    /// What the routes read and count.
    final class State: Sendable {
        /// Extra latency per RPC function.
        let delays = Mutex<[String: Duration]>([:])
        /// Every answer waits until this instant (a stalled server).
        let stalledUntil = Mutex<ContinuousClock.Instant?>(nil)
        let requests = Atomic<Int>(0)
    }

    let port: Int
    let state = State()
    private let task: Task<Void, any Error>

    init() async throws {
        let router = Router()
        let state = state
        router.post("/auth/v1/token") { _, _ in #"{"access_token":"stub-token","token_type":"bearer"}"# }
        router.get("/rest/v1/entities") { _, _ in #"[{"id":"00000000-0000-0000-0000-00000000000e"}]"# }
        router.get("/metrics") { _, _ in "feedfusion_db_pool_connections{state=\"in_use\"} 3\nfeedfusion_db_pool_connections{state=\"idle\"} 4\n" }
        router.post("/rest/v1/rpc/:function") { _, context -> Response in
            let count = state.requests.add(1, ordering: .relaxed).newValue
            let function = context.parameters.get("function") ?? ""
            if let until = state.stalledUntil.withLock({ $0 }), until > .now { try await Task.sleep(until: until, clock: .continuous) }
            if let delay = state.delays.withLock({ $0[function] }) { try await Task.sleep(for: delay) }
            // Three hits in four, a third of them from a shared page.
            let status = count % 4 == 1 ? "FeedFusion; hit; ttl=50; detail=shared"
                : count % 4 != 0 ? "FeedFusion; hit; ttl=50" : "FeedFusion; fwd=miss; stored"
            return Response(
                status: .ok, headers: [.contentType: "application/json", .init("Cache-Status")!: status],
                body: .init(byteBuffer: ByteBuffer(string: #"[{"id":"00000000-0000-0000-0000-000000000001","cursor":"c1"}]"#)))
        }
        var quiet = Logger(label: "stub")
        quiet.logLevel = .critical  // cancelling the server at the end logs an error otherwise
        // Port 0: the system picks a free one (a random pick could be taken, and then the test
        // would talk to whatever holds it); the server says which once it listens.
        let (bound, binding) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                binding.yield(channel.localAddress?.port ?? 0)
                binding.finish()
            }, logger: quiet)
        task = Task {
            defer { binding.finish() }  // a server that could not start ends the wait (port 0)
            try await app.runService()
        }
        port = await bound.first { _ in true } ?? 0
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func stop() { task.cancel() }
}
