/// The little JSON the load generator writes and reads, without Foundation's `JSONSerialization`.
///
/// The generator shares the machine's cores with the server it measures, so every millisecond it
/// spends is one the server waits for. Profiled at 1,000 virtual users (`PROFILE=generator
/// scripts/profile-load`), a quarter of its CPU was `JSONSerialization`: parsing every home page
/// into dictionaries to keep five post ids and a cursor, and writing each request's arguments.
/// Writing a body is string building; reading needs only the string members of each row.
enum LeanJSON {
    /// `text` as a JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A JSON object of `members`, each value already JSON (`quoted`, a number, an array…).
    static func object(_ members: [(name: String, value: String)]) -> String {
        "{" + members.map { quoted($0.name) + ":" + $0.value }.joined(separator: ",") + "}"
    }

    /// The string-valued members named `names` of each object of `bytes`: the objects of a top-level
    /// array (a feed page), or the one top-level object. Members nested deeper (a row's author) are
    /// not theirs. String values are returned as written (without decoding escapes: ids and cursors
    /// have none). A scan, not a validation: what is not JSON gives what it gives.
    static func rowStrings(named names: Set<String>, in bytes: some Sequence<UInt8>) -> [[String: String]] {
        var rows: [[String: String]] = []
        var depth = 0
        // The depth at which a row's members are (1: a top-level object, 2: objects in an array).
        var rowDepth = 0
        var expectingKey = false
        var key: String?
        var inString = false
        var escaped = false
        var string: [UInt8] = []
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                    string.append(byte)
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                    string.append(byte)
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    guard depth == rowDepth else { continue }
                    let text = String(decoding: string, as: UTF8.self)
                    if expectingKey {
                        key = text
                        expectingKey = false
                    } else if let name = key {
                        if names.contains(name), !rows.isEmpty { rows[rows.count - 1][name] = text }
                        key = nil
                    }
                } else {
                    string.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                string.removeAll(keepingCapacity: true)
            case UInt8(ascii: "{"):
                depth += 1
                if rowDepth == 0 { rowDepth = depth }
                if depth == rowDepth {
                    rows.append([:])
                    expectingKey = true
                    key = nil
                }
            case UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == rowDepth {
                    expectingKey = true
                    key = nil
                }
            default:
                break
            }
        }
        return rows
    }
}
