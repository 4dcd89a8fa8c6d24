extension StringProtocol {
    /// Without leading and trailing spaces and tabs. Foundation's `trimmingCharacters` goes through
    /// NSString: on the bearer token alone it was a fifth of a cached feed request's CPU time, and
    /// the query grammar trims every item of every request.
    public var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
