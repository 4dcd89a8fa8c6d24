import Auth
import Database
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Row changes of published tables, from the database to the subscribers who may see them
/// (migration 0024). Triggers announce each change's primary key at commit; this service reads the
/// changed row once per group of subscribers with the same claims — all groups in one round trip,
/// each under its own role and claims — and sends each subscriber the row as it may read it.
/// Changes are handled in commit order, one at a time.
public final class ChangeFeed: Service, Sendable {
    public static let channel = "feedfusion_realtime"
    /// How long a table announces changes after a server last said it has subscribers.
    static let lease: Duration = .seconds(180)

    let hub: RealtimeHub
    /// Listens, renews leases and reads the catalog.
    let owner: PostgresClient
    /// Reads changed rows as the subscribers (the request role, which may become each of them).
    let requests: PostgresClient
    let logger: Logger

    struct Table: Sendable {
        let qualifiedName: String
        /// Its oid: the request role reads it by oid, which needs no USAGE on a schema that only
        /// the subscriber's role (not the server's request role) may use.
        let oid: UInt32
        let columns: [(name: String, type: String)]
        let columnsJSON: JSONValue
    }

    private struct State {
        /// Whether a join has asked for changes: until then no connection is held for them.
        var wanted = false
        var wake: CheckedContinuation<Void, Never>?
        var listening = false
        var tables: [String: Table]?
        var tablesReadAt = ContinuousClock.now - .seconds(60)
        var leasedUntil: [String: ContinuousClock.Instant] = [:]
    }
    private let state = Mutex(State())
    private let nextBindingID = Atomic<Int>(0)
    private let droppedChanges = Atomic<Int>(0)
    private let lastDropNotice = Atomic<Int>(0)
    /// How many announced changes the queue holds before it drops (and says so).
    let queueCapacity: Int

    public init(hub: RealtimeHub, owner: PostgresClient, requests: PostgresClient, queueCapacity: Int = 100_000, logger: Logger) {
        self.queueCapacity = queueCapacity
        self.hub = hub
        self.owner = owner
        self.requests = requests
        self.logger = logger
    }

    /// Whether changes are being received now (the LISTEN is in place).
    public var isListening: Bool { state.withLock { $0.listening } }

    func newBindingID() -> Int { nextBindingID.add(1, ordering: .relaxed).newValue }

    /// Starts listening if nobody asked before, and waits (a bounded time) until the LISTEN is in
    /// place: a join is told it is subscribed only then.
    func startListening(within timeout: Duration = .seconds(5)) async -> Bool {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.wanted = true
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
        let deadline = ContinuousClock.now + timeout
        while !isListening {
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// Until a join asks for changes (or the task is cancelled).
    private func untilWanted() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.wanted || Task.isCancelled { return true }
                    state.wake = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.wake = nil }
                return state.wake
            }
            wake?.resume()
        }
    }

    // MARK: - Joining

    /// The published tables and their columns, read from the catalog once — and again when a join
    /// names a table not among them (published since, or with new columns: `realtime.publish` at
    /// runtime needs no restart), at most once a second however many joins ask.
    func publishedTables(naming wanted: [String] = []) async throws -> [String: Table] {
        let now = ContinuousClock.now
        let cached = state.withLock { state -> [String: Table]? in
            guard let tables = state.tables else { return nil }
            let missing = wanted.contains { tables[$0] == nil }
            guard missing, now - state.tablesReadAt >= .seconds(1) else { return tables }
            return nil
        }
        if let cached { return cached }
        state.withLock { $0.tablesReadAt = now }
        let rows = try await owner.query("""
            SELECT c.oid::int8, n.nspname, c.relname,
                   (SELECT json_agg(json_build_object('name', a.attname, 'type', t.typname) ORDER BY a.attnum)
                    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::text
            FROM pg_trigger tr JOIN pg_class c ON c.oid = tr.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE tr.tgname = 'realtime_changes' AND NOT tr.tgisinternal
            """, logger: logger)
        var tables: [String: Table] = [:]
        for try await (oid, schema, name, columnsText) in rows.decode((Int64, String, String, String).self) {
            let columns = (try JSONValue(jsonText: columnsText)).arrayItems.compactMap { column -> (String, String)? in
                guard case .string(let name)? = column.objectValue?["name"], case .string(let type)? = column.objectValue?["type"] else { return nil }
                return (name, type)
            }
            let qualified = Self.quote(schema) + "." + Self.quote(name)
            tables["\(schema).\(name)"] = Table(
                qualifiedName: qualified, oid: UInt32(truncatingIfNeeded: oid), columns: columns,
                columnsJSON: .array(columns.map { .object(["name": .string($0.0), "type": .string($0.1)]) }))
        }
        state.withLock { $0.tables = tables }
        return tables
    }

    /// Makes sure the tables announce their changes before a join is told it is subscribed: a
    /// lease committed now covers every change committed after.
    func lease(_ tables: [String]) async throws {
        let now = ContinuousClock.now
        let needed = state.withLock { state in tables.filter { (state.leasedUntil[$0] ?? now) < now + .seconds(60) } }
        guard !needed.isEmpty else { return }
        let published = try await publishedTables()
        let names = needed.compactMap { published[$0]?.qualifiedName }
        let seconds = Int(Self.lease.components.seconds)
        try await owner.query("""
            INSERT INTO realtime.subscribed_tables (relation, until)
            SELECT relation::regclass, now() + make_interval(secs => \(seconds)) FROM unnest(\(names)::text[]) AS relation
            ON CONFLICT (relation) DO UPDATE SET until = greatest(realtime.subscribed_tables.until, excluded.until)
            """, logger: logger)
        state.withLock { state in
            for table in needed { state.leasedUntil[table] = now + Self.lease }
        }
    }

    /// The published tables (`schema.name`) that bindings on these name.
    func tables(watched: Set<RealtimeHub.WatchedTable>) async -> [String] {
        guard !watched.isEmpty, let published = try? await publishedTables() else { return [] }
        return published.keys.filter { key in
            watched.contains { key == "\($0.schema).\($0.table ?? "")" || ($0.table == nil && key.hasPrefix($0.schema + ".")) }
        }
    }

    // MARK: - Running

    public func run() async throws {
        let (changes, queue) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(queueCapacity))
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await payload in changes {
                    await self.deliver(payload)
                }
            }
            group.addTask {
                // Leases of the tables subscribers watch, renewed well before they end.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(30))
                    let tables = await self.tables(watched: self.hub.watchedTables())
                    if !tables.isEmpty {
                        do { try await self.lease(tables) } catch {
                            self.logger.warning("realtime lease renewal failed", metadata: ["error": "\(String(reflecting: error))"])
                        }
                    }
                }
            }
            await cancelWhenGracefulShutdown {
                // No connection is held for changes on a server nobody subscribes to them on.
                await self.untilWanted()
                guard !Task.isCancelled else { return }
                await self.owner.listenContinuously(
                    on: Self.channel, logger: self.logger,
                    connected: { _ in
                        self.state.withLock { $0.listening = true; $0.tables = nil }
                    },
                    lost: {
                        // Changes committed meanwhile were not announced to us: subscribers hear it.
                        self.state.withLock { $0.listening = false }
                        self.hub.systemMessageToChangeSubscribers(
                            status: "error", message: "Lost the connection to PostgreSQL; changes may have been missed, reconnecting")
                    }
                ) { payload in
                    if case .dropped = queue.yield(payload) { self.dropped() }
                }
            }
            queue.finish()
            group.cancelAll()
        }
    }

    /// A change the server could not keep (its queue of announced changes is full: writes outran
    /// delivery for a long while). Never silent (supabase/realtime#269): every changes subscriber
    /// hears that changes were dropped — at most once a second — and can refetch.
    private func dropped() {
        droppedChanges.add(1, ordering: .relaxed)
        let second = Int(Date().timeIntervalSince1970)
        guard lastDropNotice.exchange(second, ordering: .relaxed) != second else { return }
        logger.error("realtime change queue full; changes dropped, subscribers told", metadata: ["dropped": "\(droppedChanges.load(ordering: .relaxed))"])
        hub.systemMessageToChangeSubscribers(
            status: "error", message: "ChangesDropped: the server fell behind the database's changes and dropped some; refetch to catch up")
    }

    /// One announced change, to every subscriber that may see it.
    func deliver(_ payload: String) async {
        guard let change = try? JSONValue(jsonText: payload).objectValue,
            case .string(let schema)? = change["schema"], case .string(let table)? = change["table"],
            case .string(let type)? = change["type"], case .object(let pk)? = change["pk"], case .string(let at)? = change["at"]
        else {
            logger.warning("unreadable realtime change announcement", metadata: ["payload": "\(payload.prefix(200))"])
            return
        }
        let subscribers = hub.changeSubscribers(schema: schema, table: table, type: type)
        guard !subscribers.isEmpty, let info = try? await publishedTables()["\(schema).\(table)"] else { return }
        var data: [String: JSONValue] = [
            "schema": .string(schema), "table": .string(table), "commit_timestamp": .string(at), "type": .string(type),
            "columns": info.columnsJSON, "errors": .null,
        ]
        if type != "INSERT" { data["old_record"] = .object(pk) }

        if type == "DELETE" {
            // The row is gone: nothing to read as anyone. Only its primary key is sent (as Supabase
            // does), and only to bindings whose filter, if any, is on the primary key.
            let dataText = JSONValue.object(data).jsonText
            for subscriber in subscribers {
                let ids = subscriber.bindings.filter { $0.filter.map { pk[$0.column] != nil && $0.matches(pk) } ?? true }.map(\.id)
                send(dataText, ids: ids, to: subscriber)
            }
            return
        }
        // A post's signed-in subscribers: its readers among them all in one query (the policy set-wise,
        // migration 0025). Everyone else: one read per distinct claims, all in one round trip.
        var readers: [UUID] = []
        var others: [RealtimeHub.ChangeSubscriber] = []
        let postID: UUID? = schema == "public" && table == "posts" ? pk["id"].flatMap { Filter.text($0) }.flatMap(UUID.init(uuidString:)) : nil
        for subscriber in subscribers {
            if postID != nil, subscriber.caller.role == .authenticated, let user = subscriber.caller.userID {
                readers.append(user)
            } else {
                others.append(subscriber)
            }
        }
        var rowForUser: [UUID: Row] = [:]
        var groups: [String: Int] = [:]
        var claims: [String] = []
        for subscriber in others where groups[subscriber.caller.claimsJSON] == nil {
            groups[subscriber.caller.claimsJSON] = claims.count + 1
            claims.append(subscriber.caller.claimsJSON)
        }
        var visible: [Int: Row] = [:]
        do {
            if let postID, !readers.isEmpty {
                rowForUser = try await postForReaders(postID, viewers: readers)
                hub.statistics.changesRead.add(1, ordering: .relaxed)
            }
            if !claims.isEmpty {
                visible = try await visibleRows(info.oid, pk: .object(pk), claims: claims)
                hub.statistics.changesRead.add(claims.count, ordering: .relaxed)
            }
        } catch {
            logger.warning("realtime visibility check failed", metadata: ["error": "\(String(reflecting: error))", "table": "\(table)"])
            return
        }
        // `data` with the record, as JSON text, once per distinct row.
        var encoded: [String: String] = [:]
        for subscriber in subscribers {
            let row: Row?
            if postID != nil, subscriber.caller.role == .authenticated, let user = subscriber.caller.userID {
                row = rowForUser[user]
            } else {
                row = groups[subscriber.caller.claimsJSON].flatMap { visible[$0] }
            }
            guard let row else { continue }
            let ids = subscriber.bindings.filter { $0.filter?.matches(row.fields) ?? true }.map(\.id)
            guard !ids.isEmpty else { continue }
            let dataText = encoded[row.text] ?? {
                var withRecord = data
                withRecord["record"] = .null
                // The record spliced in as the database wrote it.
                let text = JSONValue.object(withRecord).jsonText.replacingOccurrences(of: #""record":null"#, with: #""record":"# + row.text)
                encoded[row.text] = text
                return text
            }()
            send(dataText, ids: ids, to: subscriber)
        }
    }

    /// A post as each of `viewers` who may read it reads it (all get the same row: posts have no
    /// per-column privileges).
    private func postForReaders(_ post: UUID, viewers: [UUID]) async throws -> [UUID: Row] {
        let rows = try await requests.query(
            "SELECT viewer, record::text FROM realtime.post_for_readers(\(post), \(viewers))", logger: logger)
        var readers: [UUID: Row] = [:]
        var parsed: Row?
        for try await (viewer, record) in rows.decode((UUID, String).self) {
            if parsed?.text != record { parsed = Row(text: record, fields: try JSONValue(jsonText: record).objectValue ?? [:]) }
            readers[viewer] = parsed
        }
        return readers
    }

    /// A changed row as read for a subscriber: its text (the event is encoded once per distinct
    /// row, not once per subscriber) and its fields (for the filters).
    struct Row: Sendable {
        let text: String
        let fields: [String: JSONValue]
    }

    /// One `postgres_changes` event; `dataText` (the `data` object as JSON) is made once per change
    /// and row, not once per subscriber.
    private func send(_ dataText: String, ids: [Int], to subscriber: RealtimeHub.ChangeSubscriber) {
        guard !ids.isEmpty else { return }
        hub.statistics.changesDelivered.add(1, ordering: .relaxed)
        subscriber.outbox.sendFrame(
            topic: subscriber.topic, event: "postgres_changes",
            payloadText: #"{"ids":[\#(ids.map(String.init).joined(separator: ","))],"data":\#(dataText)}"#)
    }

    private func visibleRows(_ table: UInt32, pk: JSONValue, claims: [String]) async throws -> [Int: Row] {
        let rows = try await requests.query(
            "SELECT claims_index, record::text FROM realtime.visible_rows(\(Int64(table))::oid::regclass, \(pk.jsonText)::jsonb, \(claims)::text[])",
            logger: logger)
        var visible: [Int: Row] = [:]
        for try await (index, record) in rows.decode((Int, String).self) {
            visible[index] = Row(text: record, fields: try JSONValue(jsonText: record).objectValue ?? [:])
        }
        return visible
    }

    static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

extension JSONValue {
    var arrayItems: [JSONValue] {
        if case .array(let items) = self { return items }
        return []
    }
}
