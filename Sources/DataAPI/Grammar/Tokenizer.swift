/// Splitting helpers shared by the select, filter and order parsers.
enum Tokenizer {
    /// Splits at top-level commas: not inside parentheses or double quotes.
    static func splitTopLevel(_ text: Substring, separator: Character = ",") throws(GrammarError) -> [Substring] {
        var parts: [Substring] = []
        var depth = 0
        var inQuotes = false
        var start = text.startIndex
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "\\" && inQuotes {
                index = text.index(after: index)
                if index < text.endIndex { index = text.index(after: index) }
                continue
            }
            switch character {
            case "\"": inQuotes.toggle()
            case "(" where !inQuotes: depth += 1
            case ")" where !inQuotes:
                depth -= 1
                if depth < 0 { throw GrammarError("unexpected ')' in '\(text)'") }
            case separator where !inQuotes && depth == 0:
                parts.append(text[start..<index])
                start = text.index(after: index)
            default: break
            }
            index = text.index(after: index)
        }
        if inQuotes { throw GrammarError("unclosed double quote in '\(text)'") }
        if depth != 0 { throw GrammarError("unbalanced parentheses in '\(text)'") }
        parts.append(text[start..<text.endIndex])
        return parts
    }

    /// Removes surrounding double quotes and unescapes `\"` and `\\`.
    static func unquote(_ text: Substring) -> String {
        guard text.count >= 2, text.first == "\"", text.last == "\"" else { return String(text) }
        var result = ""
        var escaped = false
        for character in text.dropFirst().dropLast() {
            if escaped {
                result.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// A column or alias name: letters, digits, `_`, `$`, `-` or a quoted name.
    static func name(_ text: Substring, what: String) throws(GrammarError) -> String {
        let trimmed = text.trimmingSpaces
        if trimmed.hasPrefix("\"") { return unquote(Substring(trimmed)) }
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "$" || $0 == "-" || $0 == " " })
        else {
            throw GrammarError("invalid \(what) '\(text)'")
        }
        return trimmed
    }
}
