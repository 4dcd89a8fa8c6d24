import Foundation

/// The process's CPU time, memory and file descriptors, read from Linux's /proc (zero elsewhere).
public struct ProcessMetrics: Sendable {
    public var cpuSeconds = 0.0
    public var residentBytes = 0.0
    public var virtualBytes = 0.0
    public var openFileDescriptors = 0.0
    public var maxFileDescriptors = 0.0
    public var startTimeSeconds = 0.0

    public static func read() -> ProcessMetrics {
        var metrics = ProcessMetrics()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        // /proc/self/stat: fields after the command name (which may hold spaces) start at its ')'.
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // fields[0] is field 3 (state): utime is 14, stime 15, starttime 22, vsize 23, rss 24.
            func field(_ number: Int) -> Double { fields.count > number - 3 ? Double(fields[number - 3]) ?? 0 : 0 }
            if ticks > 0 {
                metrics.cpuSeconds = (field(14) + field(15)) / ticks
                if let uptime = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8),
                    let seconds = uptime.split(separator: " ").first.flatMap({ Double($0) }) {
                    metrics.startTimeSeconds = (Date().timeIntervalSince1970 - seconds + field(22) / ticks).rounded()
                }
            }
            metrics.virtualBytes = field(23)
            metrics.residentBytes = field(24) * pageSize
        }
        if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            metrics.openFileDescriptors = Double(descriptors.count)
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { metrics.maxFileDescriptors = Double(limit.rlim_cur) }
        return metrics
    }
}
