import Foundation
import Testing
@testable import LoadTest

/// The generator's own JSON writing and row scanning agree with Foundation's parser on random
/// input: strings with quotes, backslashes, braces, control characters and non-ASCII text, and
/// feed pages whose rows nest objects and arrays that carry the same member names.
@Suite("Load generator JSON")
struct LeanJSONTests {
    static let alphabet: [Character] = Array("ab\"\\{}[],: \n\t\u{01}\u{1F}é✓🙂/idcursor")

    static func randomString(maxLength: Int = 12) -> String {
        String((0..<Int.random(in: 0...maxLength)).map { _ in alphabet.randomElement()! })
    }

    @Test("quoted strings and objects parse back to what was written")
    func writing() throws {
        for _ in 0..<500 {
            let text = Self.randomString(maxLength: 30)
            let members = (0..<Int.random(in: 0...4)).map { index in ("k\(index)\(Self.randomString())", Self.randomString()) }
            let written = LeanJSON.object(members.map { ($0.0, LeanJSON.quoted($0.1)) } + [("text", LeanJSON.quoted(text))])
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(written.utf8)) as? [String: String], "\(written)")
            #expect(parsed["text"] == text, "\(written)")
            for (name, value) in members { #expect(parsed[name] == value, "\(written)") }
        }
    }

    @Test("row members are found at the rows' depth only, whatever nests inside them")
    func scanning() throws {
        // Values without escapes (the scan returns strings as written, as ids and cursors are).
        func plain() -> String { String(Self.randomString().filter { !"\"\\\n\t\u{01}\u{1F}/".contains($0) }) }
        func nested(_ depth: Int) -> Any {
            switch Int.random(in: 0..<(depth > 2 ? 2 : 4)) {
            case 0: return plain()
            case 1: return Int.random(in: -5...500)
            case 2: return ["id": plain(), "cursor": plain(), "x": nested(depth + 1)]
            default: return (0..<Int.random(in: 0...3)).map { _ in nested(depth + 1) }
            }
        }
        for _ in 0..<300 {
            var rows: [[String: Any]] = []
            for _ in 0..<Int.random(in: 0...6) {
                var row: [String: Any] = ["author": nested(0), "targets": nested(0), "body": Self.randomString()]
                // A wanted member is a string, missing, or something else (nested: its strings are not it).
                if Bool.random() { row["id"] = plain() } else if Bool.random() { row["id"] = nested(0) }
                if Bool.random() { row["cursor"] = plain() } else if Bool.random() { row["cursor"] = nested(1) }
                if Bool.random() { row["id_like"] = nested(0) }
                rows.append(row)
            }
            let page = try JSONSerialization.data(withJSONObject: rows)
            let scanned = LeanJSON.rowStrings(named: ["id", "cursor"], in: Array(page))
            let expected = rows.map { row in row.compactMapValues { $0 as? String }.filter { ["id", "cursor"].contains($0.key) } }
            #expect(scanned == expected, "\(String(decoding: page, as: UTF8.self))")
            // One object on its own (create_post's answer).
            if let first = rows.first {
                let object = try JSONSerialization.data(withJSONObject: first)
                #expect(LeanJSON.rowStrings(named: ["id"], in: Array(object)).first?["id"] == first["id"] as? String)
            }
        }
    }
}
