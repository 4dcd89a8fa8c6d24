import NIOCore

/// Reads RESP values from a byte stream; answers nil while a value is not complete yet, without
/// consuming anything, so the decoder can wait for more bytes.
enum RESPParser {
    /// Deepest nesting accepted (a malicious or broken peer cannot exhaust the stack).
    static let maximumDepth = 32
    /// Largest bulk string or aggregate accepted (512 MB is Redis's own limit for strings).
    static let maximumLength = 512 << 20

    static func parse(_ buffer: inout ByteBuffer) throws(RedisError) -> RESPValue? {
        var copy = buffer
        guard let value = try parse(&copy, depth: 0) else { return nil }
        buffer = copy
        return value
    }

    private static func parse(_ buffer: inout ByteBuffer, depth: Int) throws(RedisError) -> RESPValue? {
        guard depth < maximumDepth else { throw .protocolError("nesting too deep") }
        guard let type = buffer.readInteger(as: UInt8.self) else { return nil }
        guard let line = readLine(&buffer) else { return nil }
        switch type {
        case UInt8(ascii: "+"): return .simpleString(line)
        case UInt8(ascii: "-"): return .error(line)
        case UInt8(ascii: ":"):
            guard let value = Int(line) else { throw .protocolError("bad integer '\(line)'") }
            return .integer(value)
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            let length = try count(line)
            guard length >= 0 else { return type == UInt8(ascii: "$") ? .bulkString(nil) : .null }
            guard buffer.readableBytes >= length + 2, var bytes = buffer.readSlice(length: length) else { return nil }
            buffer.moveReaderIndex(forwardBy: 2)
            if type == UInt8(ascii: "!") { return .error(bytes.readString(length: bytes.readableBytes) ?? "") }
            if type == UInt8(ascii: "=") { bytes.moveReaderIndex(forwardBy: min(4, bytes.readableBytes)) }  // "txt:" prefix
            return .bulkString(bytes)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            let length = try count(line)
            guard length >= 0 else { return .array(nil) }
            var values: [RESPValue] = []
            values.reserveCapacity(min(length, 1024))
            for _ in 0..<length {
                guard let value = try parse(&buffer, depth: depth + 1) else { return nil }
                values.append(value)
            }
            return type == UInt8(ascii: ">") ? .push(values) : .array(values)
        case UInt8(ascii: "%"), UInt8(ascii: "|"):
            let length = try count(line)
            var pairs: [(RESPValue, RESPValue)] = []
            for _ in 0..<max(0, length) {
                guard let key = try parse(&buffer, depth: depth + 1), let value = try parse(&buffer, depth: depth + 1) else { return nil }
                pairs.append((key, value))
            }
            if type == UInt8(ascii: "|") {
                // An attribute precedes the real reply: skip it.
                return try parse(&buffer, depth: depth + 1)
            }
            return .map(pairs)
        case UInt8(ascii: "_"): return .null
        case UInt8(ascii: "#"): return .boolean(line == "t")
        case UInt8(ascii: ","):
            guard let value = Double(line) ?? (line == "inf" ? .infinity : line == "-inf" ? -.infinity : nil) else {
                throw .protocolError("bad double '\(line)'")
            }
            return .double(value)
        case UInt8(ascii: "("): return .simpleString(line)
        default:
            throw .protocolError("unknown type byte \(type)")
        }
    }

    private static func count(_ line: String) throws(RedisError) -> Int {
        guard let value = Int(line), value >= -1, value <= maximumLength else { throw .protocolError("bad length '\(line)'") }
        return value
    }

    /// A line up to CRLF (consumed with it), or nil when the CRLF has not arrived.
    private static func readLine(_ buffer: inout ByteBuffer) -> String? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: UInt8(ascii: "\r")), view.index(after: cr) < view.endIndex,
              view[view.index(after: cr)] == UInt8(ascii: "\n")
        else { return nil }
        let length = cr - view.startIndex
        let line = buffer.readString(length: length)
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    /// A command as RESP: an array of bulk strings.
    static func write(_ command: [String], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(command.count)\r\n")
        for argument in command {
            buffer.writeString("$\(argument.utf8.count)\r\n")
            buffer.writeString(argument)
            buffer.writeString("\r\n")
        }
    }
}
