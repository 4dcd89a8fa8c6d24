import Auth
import Database
import Foundation

/// Broadcasts sent over HTTP (`POST /realtime/v1/api/broadcast`), as Supabase Realtime serves them
/// to `channel.http_send()` (realtime-py) / `httpSend()` (realtime-js) and to a backend that has no
/// socket: each message reaches the members of its topic's public or private channel, with no
/// sender to skip. The same rules as a member's broadcast over the socket: a private channel needs
/// a signed-in caller whom the `realtime.messages` policies let send on the topic.
extension RealtimeEndpoint {
    public struct BroadcastMessage: Sendable {
        /// The topic as the clients name it (`room-1`, not `realtime:room-1`).
        public var topic: String
        public var event: String
        public var payload: JSONValue
        public var isPrivate: Bool

        public init(topic: String, event: String, payload: JSONValue, isPrivate: Bool) {
            self.topic = topic
            self.event = event
            self.payload = payload
            self.isPrivate = isPrivate
        }
    }

    /// Why a message was not sent.
    public enum BroadcastRefusal: Error, Sendable, Equatable {
        /// The message itself is wrong (400).
        case invalid(String)
        /// The caller may not send on the topic (403).
        case unauthorized(String)
        /// The database could not be asked (503).
        case unavailable(String)
    }

    /// Sends the messages in order, after checking them all: either every message is sent or none
    /// is. Returns how many members each reached.
    public func broadcast(_ messages: [BroadcastMessage], as caller: Caller) async throws(BroadcastRefusal) -> [Int] {
        var checked: [String: Bool] = [:]  // private topic → may send
        for message in messages {
            guard !message.topic.isEmpty, message.topic.utf8.count <= 255 else {
                throw .invalid("each message needs a topic of 1 to 255 bytes")
            }
            guard !message.event.isEmpty, message.event.utf8.count <= 255 else {
                throw .invalid("each message needs an event name of 1 to 255 bytes")
            }
            guard "realtime:" + message.topic != RealtimeHub.homeTopic else {
                throw .unauthorized("Unauthorized: nobody sends on the home feed; its posts come from the fan-out")
            }
            guard message.isPrivate, checked[message.topic] == nil else { continue }
            switch await authorizer.privateChannel(message.topic, for: caller) {
            case .failure(.anonymous): throw .unauthorized("Unauthorized: a private channel needs a signed-in user's token")
            case .failure(.unavailable):
                throw .unavailable("UnableToConnectToDatabase: the channel's authorization could not be checked; try again")
            case .success(let permissions): checked[message.topic] = permissions.send
            }
            guard checked[message.topic] == true else {
                throw .unauthorized("Unauthorized: You do not have permissions to write to this Channel topic: \(message.topic)")
            }
        }
        return messages.map { message in
            hub.broadcast(
                toTopic: "realtime:" + message.topic, isPrivate: message.isPrivate,
                payload: .object(["type": .string("broadcast"), "event": .string(message.event), "payload": message.payload]))
        }
    }
}
