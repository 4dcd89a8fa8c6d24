/// The little JSON the load generator writes, without Foundation's `JSONSerialization`.
///
/// The generator shares the machine's cores with the server it measures, so every millisecond it
/// spends is one the server waits for. Profiled at 1,000 virtual users (`PROFILE=generator
/// scripts/profile-load`), a quarter of its CPU was `JSONSerialization`: parsing every home page
/// into dictionaries to keep five post ids and a cursor, and writing each request's arguments.
/// Writing a body is string building; a page's ids and cursors are read with the server's own
/// scan of the rows it writes (`FeedPageSlots.scan`).
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
}
