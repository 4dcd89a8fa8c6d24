import NIOCore

/// A value of the Redis serialization protocol, RESP2 and RESP3.
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int)
    /// A bulk string; nil is RESP2's null bulk string.
    case bulkString(ByteBuffer?)
    /// An array; nil is RESP2's null array.
    case array([RESPValue]?)
    // RESP3
    case null
    case boolean(Bool)
    case double(Double)
    case map([(RESPValue, RESPValue)])
    /// An out-of-band message (pub/sub) on a RESP3 connection.
    case push([RESPValue])

    /// The value as text, when it is a string of either kind.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let buffer?): String(buffer: buffer)
        default: nil
        }
    }

    public var integer: Int? {
        if case .integer(let value) = self { return value }
        return string.flatMap(Int.init)
    }

    public var array: [RESPValue]? {
        switch self {
        case .array(let values?): values
        case .push(let values): values
        default: nil
        }
    }

    public var isNull: Bool {
        switch self {
        case .null, .bulkString(nil), .array(nil): true
        default: false
        }
    }

    public static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        switch (lhs, rhs) {
        case (.simpleString(let a), .simpleString(let b)), (.error(let a), .error(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.bulkString(let a), .bulkString(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.null, .null): true
        case (.boolean(let a), .boolean(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.push(let a), .push(let b)): a == b
        case (.map(let a), .map(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }
}

/// An error reply, or the connection failing.
public enum RedisError: Error, Sendable, Equatable {
    /// The server answered `-ERR …` (or another error kind).
    case server(String)
    case timeout
    case connectionClosed
    case protocolError(String)
    case unexpectedReply(String)
}
