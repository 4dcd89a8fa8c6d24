import DataAPI
import Foundation
import Testing

@Suite("Request text: headers JSON and query decoding")
struct RequestTextTests {
    @Test("headers become a JSON object PostgreSQL can parse, escaping included; a later duplicate wins")
    func headersJSON() throws {
        let json = RequestText.jsonObject([
            ("accept", "*/*"), ("x-quote", #"say "hi" \ bye"#), ("x-control", "a\tb\nc\u{01}"), ("x-unicode", "zürich ✓"),
            ("accept", "application/json"),
        ])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])
        #expect(object == [
            "accept": "application/json", "x-quote": #"say "hi" \ bye"#, "x-control": "a\tb\nc\u{01}", "x-unicode": "zürich ✓",
        ])
        #expect(RequestText.jsonObject([]) == "{}")
    }

    @Test("form decoding: + is a space, %XX a byte, malformed escapes and invalid UTF-8 are nil", arguments: [
        ("a+b", "a b"), ("a%2Bb", "a+b"), ("%C3%BC", "ü"), ("eq.%22x%2Cy%22", #"eq."x,y""#), ("plain", "plain"), ("", ""),
        ("%", nil), ("%4", nil), ("%zz", nil), ("%FF", nil),
    ] as [(String, String?)])
    func formDecoding(input: String, expected: String?) {
        #expect(RequestText.formDecoded(Substring(input)) == expected)
    }
}
