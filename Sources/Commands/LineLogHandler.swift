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

    private static let output = Mutex<Void>(())
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
        let time = Date().formatted(.iso8601)
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
        Self.output.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// A logfmt value: quoted when it holds spaces, quotes or `=`.
    static func logfmt(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
