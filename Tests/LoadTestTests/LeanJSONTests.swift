import Foundation
import Testing
@testable import LoadTest

/// The generator's own JSON writing agrees with Foundation's parser on random input: strings with
/// quotes, backslashes, braces, control characters and non-ASCII text.
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
}
