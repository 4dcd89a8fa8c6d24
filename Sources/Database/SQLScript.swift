/// Splits a SQL script into statements at top-level semicolons.
///
/// PostgresNIO speaks only the extended query protocol, which takes one statement at a time, so a
/// migration file is run statement by statement inside its transaction. Semicolons inside quoted
/// strings, quoted identifiers, dollar-quoted bodies and comments do not split.
public enum SQLScript {
    public static func statements(in script: String) -> [String] {
        let characters = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0

        func flush() {
            let statement = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !statement.isEmpty && !isOnlyComments(statement) { statements.append(statement) }
            current = String.UnicodeScalarView()
        }
        func starts(with text: String, at position: Int) -> Bool {
            let scalars = Array(text.unicodeScalars)
            guard position + scalars.count <= characters.count else { return false }
            return Array(characters[position..<(position + scalars.count)]) == scalars
        }
        /// Copies characters up to and including `terminator`, or to the end of the script.
        func copy(until terminator: String) {
            while index < characters.count {
                if starts(with: terminator, at: index) {
                    current.append(contentsOf: terminator.unicodeScalars)
                    index += terminator.unicodeScalars.count
                    return
                }
                current.append(characters[index])
                index += 1
            }
        }

        while index < characters.count {
            let character = characters[index]
            switch character {
            case ";":
                index += 1
                flush()
            case "'", "\"":
                current.append(character)
                index += 1
                // A doubled quote inside is an escaped quote: it closes and reopens, which copy() handles.
                copy(until: String(character))
            case "-" where starts(with: "--", at: index):
                copy(until: "\n")
            case "/" where starts(with: "/*", at: index):
                current.append(contentsOf: "/*".unicodeScalars)
                index += 2
                copy(until: "*/")
            case "$":
                if let tag = dollarTag(in: characters, at: index) {
                    current.append(contentsOf: tag.unicodeScalars)
                    index += tag.unicodeScalars.count
                    copy(until: tag)
                } else {
                    current.append(character)
                    index += 1
                }
            default:
                current.append(character)
                index += 1
            }
        }
        flush()
        return statements
    }

    /// `$$` or `$tag$` starting at `position`, if that is what is there (not a `$1` parameter).
    private static func dollarTag(in characters: [Unicode.Scalar], at position: Int) -> String? {
        var end = position + 1
        while end < characters.count {
            let scalar = characters[end]
            if scalar == "$" {
                return String(String.UnicodeScalarView(characters[position...end]))
            }
            let isTagCharacter = scalar == "_" || scalar.properties.isAlphabetic || (end > position + 1 && ("0"..."9").contains(scalar))
            guard isTagCharacter else { return nil }
            end += 1
        }
        return nil
    }

    private static func isOnlyComments(_ statement: String) -> Bool {
        statement.split(separator: "\n").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") || $0.trimmingCharacters(in: .whitespaces).isEmpty }
    }
}
