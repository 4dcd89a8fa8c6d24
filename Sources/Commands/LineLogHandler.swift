import Foundation
import Logging
import Synchronization

/// One line per log entry on standard error: time, level, label, metadata, message.
///
/// Unlike swift-log's `StreamLogHandler`, metadata is formatted only when a line is written: the
/// HTTP server attaches a request id to every request's logger, and formatting it eagerly cost
/// measurable time on every request even when nothing was logged.
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    /// Lines not yet written. Writing each line at once cost a system call per request (about
    /// 40 % of the throughput of a cached feed); lines are written in chunks of up to 64 KB at
    /// least every 100 ms instead, and at once from `warning` up, so that problems are never late.
    private static let pending = Mutex<[UInt8]>([])
    private static let flusher: Void = {
        Thread.detachNewThread {
            while true {
                usleep(100_000)
                LineLogHandler.flush()
            }
        }
    }()
    /// `LOG_FORMAT=json`: one JSON object per line instead of logfmt-style fields.
    static let json = Atomic<Bool>(false)

    init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let time = Self.timestamp()
        let line: String
        if Self.json.load(ordering: .relaxed) {
            var object: [String: String] = ["time": time, "level": "\(event.level)", "logger": label, "message": "\(event.message)"]
            for (key, value) in all where object[key] == nil { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            line = String(decoding: data, as: UTF8.self) + "\n"
        } else {
            let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.logfmt("\($0.value)"))" }.joined(separator: " ")
            line = "\(time) \(event.level) \(label): \(fields.isEmpty ? "" : "[\(fields)] ")\(event.message)\n"
        }
        Self.append(line, urgent: event.level >= .warning)
    }

    /// A logfmt value: quoted when it holds spaces, quotes or `=`.
    static func logfmt(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// `2026-12-01T00:24:39.123Z`, without Foundation's formatters (one line per request goes
    /// through here, and `Date.formatted` showed in profiles).
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }

    static func append(_ line: String, urgent: Bool) {
        _ = flusher
        pending.withLock { pending in
            pending.append(contentsOf: line.utf8)
            if urgent || pending.count >= 64 * 1024 { write(&pending) }
        }
    }

    /// Writes what is pending (also called before the process exits).
    static func flush() {
        pending.withLock { pending in if !pending.isEmpty { write(&pending) } }
    }

    private static func write(_ pending: inout [UInt8]) {
        pending.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
        pending.removeAll(keepingCapacity: true)
    }
}
