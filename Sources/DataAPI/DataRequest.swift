/// A data-API request, independent of the HTTP framework.
public struct DataRequest: Sendable {
    /// The schema from `Accept-Profile`/`Content-Profile` (already checked to be exposed).
    public var schema: String
    /// Table, view or function name.
    public var resource: String
    /// Query parameters in order, decoded.
    public var query: [(name: String, value: String)]
    public var prefer: Prefer
    /// From a `Range: a-b` header: the first row and how many.
    public var range: (offset: Int, limit: Int?)?
    /// `Accept: application/vnd.pgrst.object+json`
    public var singleObject: Bool
    /// `Accept: text/csv`
    public var csv: Bool = false
    /// HTTP method, path and headers (lower-cased names, JSON), for `request.method`/`.path`/`.headers`.
    public var method: String = "GET"
    public var path: String = "/"
    public var headersJSON: String = "{}"
    /// The JSON body of writes and POST RPC calls.
    public var body: [UInt8]

    public init(
        schema: String, resource: String, query: [(name: String, value: String)], prefer: Prefer = Prefer(),
        range: (offset: Int, limit: Int?)? = nil, singleObject: Bool = false, body: [UInt8] = []
    ) {
        self.schema = schema
        self.resource = resource
        self.query = query
        self.prefer = prefer
        self.range = range
        self.singleObject = singleObject
        self.body = body
    }

    func parameter(_ name: String) -> String? { query.last { $0.name == name }?.value }
}

/// The `Prefer` header's preferences.
public struct Prefer: Sendable, Equatable {
    public enum Return: String, Sendable { case minimal, representation, headersOnly = "headers-only" }
    public enum Count: String, Sendable { case exact, planned, estimated }
    public enum Resolution: String, Sendable { case mergeDuplicates = "merge-duplicates", ignoreDuplicates = "ignore-duplicates" }

    public var returning: Return?
    public var count: Count?
    public var resolution: Resolution?
    public var missingDefault = false

    public init() {}

    /// Parses every `Prefer` header value (comma-separated `key=value` pairs); unknown ones are ignored, as PostgREST does.
    public init(headerValues: [String]) {
        self.init()
        for value in headerValues {
            for pair in value.split(separator: ",") {
                let parts = pair.trimmingSpaces.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { continue }
                switch parts[0] {
                case "return": returning = Return(rawValue: parts[1])
                case "count": count = Count(rawValue: parts[1])
                case "resolution": resolution = Resolution(rawValue: parts[1])
                case "missing": missingDefault = parts[1] == "default"
                default: break
                }
            }
        }
    }
}

/// What the data API answers, before HTTP: status, JSON body text, and the headers it decides.
public struct DataResponse: Sendable {
    public var status: Int
    public var body: String?
    public var contentRange: String?
    public var location: String?
    /// Milliseconds spent in the database, for `Server-Timing`.
    public var databaseMilliseconds: Double = 0

    public init(status: Int, body: String?, contentRange: String? = nil, location: String? = nil) {
        self.status = status
        self.body = body
        self.contentRange = contentRange
        self.location = location
    }
}
