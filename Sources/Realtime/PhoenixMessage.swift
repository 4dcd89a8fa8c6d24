import Auth
import Foundation

/// The Phoenix channels wire format the Supabase clients speak. `1.0.0` sends every message as a
/// JSON object `{topic, event, payload, ref, join_ref}`; `2.0.0` as an array
/// `[join_ref, ref, topic, event, payload]`.
public enum PhoenixSerializer: String, Sendable, CaseIterable {
    case v1 = "1.0.0"
    case v2 = "2.0.0"
}

/// One message in either direction.
public struct PhoenixMessage: Sendable, Equatable {
    public var joinRef: String?
    public var ref: String?
    public var topic: String
    public var event: String
    public var payload: JSONValue

    public init(joinRef: String? = nil, ref: String? = nil, topic: String, event: String, payload: JSONValue) {
        self.joinRef = joinRef
        self.ref = ref
        self.topic = topic
        self.event = event
        self.payload = payload
    }

    /// Why a frame is not a message; said back to the client in a `phx_error`-free way (the frame
    /// has no topic to answer on), and logged.
    public struct MalformedFrame: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Parses a text frame. Refs may come as strings or numbers (clients differ); `payload` must be
    /// an object.
    public static func decode(_ text: String, serializer: PhoenixSerializer) throws(MalformedFrame) -> PhoenixMessage {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
            throw MalformedFrame(description: "the frame is not JSON")
        }
        let joinRef: JSONValue?, ref: JSONValue?, topic: JSONValue?, event: JSONValue?, payload: JSONValue?
        switch (serializer, value) {
        case (.v1, .object(let fields)):
            (joinRef, ref, topic, event, payload) = (fields["join_ref"], fields["ref"], fields["topic"], fields["event"], fields["payload"])
        case (.v2, .array(let items)) where items.count == 5:
            (joinRef, ref, topic, event, payload) = (items[0], items[1], items[2], items[3], items[4])
        case (.v1, _):
            throw MalformedFrame(description: "vsn 1.0.0 frames are JSON objects {topic, event, payload, ref}")
        case (.v2, _):
            throw MalformedFrame(description: "vsn 2.0.0 frames are JSON arrays [join_ref, ref, topic, event, payload]")
        }
        guard case .string(let topicText)? = topic, !topicText.isEmpty else { throw MalformedFrame(description: "topic must be a non-empty string") }
        guard case .string(let eventText)? = event, !eventText.isEmpty else { throw MalformedFrame(description: "event must be a non-empty string") }
        let body: JSONValue
        switch payload {
        case .object?: body = payload!
        case nil, .null?: body = .object([:])
        default: throw MalformedFrame(description: "payload must be a JSON object")
        }
        return PhoenixMessage(
            joinRef: try refText(joinRef, "join_ref"), ref: try refText(ref, "ref"), topic: topicText, event: eventText, payload: body)
    }

    private static func refText(_ value: JSONValue?, _ name: String) throws(MalformedFrame) -> String? {
        switch value {
        case nil, .null?: nil
        case .string(let text)?: text
        case .number(let number)? where number.rounded() == number && abs(number) < 1e15: String(Int64(number))
        default: throw MalformedFrame(description: "\(name) must be a string, a whole number or null")
        }
    }

    /// A frame from its parts, the payload as JSON text already: the one place the two wire
    /// layouts are written. Every key is present (`ref: null` on pushes): the clients require it.
    static func frame(
        joinRef: String? = nil, ref: String? = nil, topic: String, event: String, payloadText: String, serializer: PhoenixSerializer
    ) -> String {
        switch serializer {
        case .v1:
            #"{"topic":\#(jsonString(topic)),"event":\#(jsonString(event)),"payload":\#(payloadText),"ref":\#(jsonString(ref)),"join_ref":\#(jsonString(joinRef))}"#
        case .v2:
            "[\(jsonString(joinRef)),\(jsonString(ref)),\(jsonString(topic)),\(jsonString(event)),\(payloadText)]"
        }
    }

    /// The frame's text.
    public func encoded(_ serializer: PhoenixSerializer) -> String {
        Self.frame(joinRef: joinRef, ref: ref, topic: topic, event: event, payloadText: payload.jsonText, serializer: serializer)
    }
}

/// A string as a JSON literal (null for none).
func jsonString(_ text: String?) -> String {
    guard let text else { return "null" }
    return JSONValue.string(text).jsonText
}

/// One server message encoded at most once per serializer, however many subscribers get it.
final class EncodedMessage: @unchecked Sendable {
    let message: PhoenixMessage
    private var texts: [PhoenixSerializer: String] = [:]
    private let lock = NSLock()

    init(_ message: PhoenixMessage) { self.message = message }

    func text(_ serializer: PhoenixSerializer) -> String {
        lock.lock()
        defer { lock.unlock() }
        if let text = texts[serializer] { return text }
        let text = message.encoded(serializer)
        texts[serializer] = text
        return text
    }
}
