import AppConfig
import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import NIOSSL

/// Sends each mail in its own SMTP conversation (RFC 5321): greeting, EHLO, STARTTLS when asked
/// (then EHLO again), AUTH PLAIN when a user is set, MAIL FROM, RCPT TO, DATA, QUIT — bounded by
/// `SMTP_TIMEOUT_SECONDS`. Mails are few (a recovery, a confirmation): no pool to keep.
public struct SMTPMailer: Mailer {
    let settings: MailSettings
    let host: String

    public init(settings: MailSettings) {
        self.settings = settings
        host = settings.host ?? "127.0.0.1"
    }

    public func send(_ mail: Mail) async throws {
        try Self.checkAddress(mail.to)
        let message = MailMessage(mail: mail, from: settings.senderEmail, fromName: settings.senderName).rendered
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await converse(message: message, to: mail.to) }
            group.addTask {
                try await Task.sleep(for: .seconds(settings.timeoutSeconds))
                throw MailError.timeout
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    static func checkAddress(_ address: String) throws {
        // Whatever AuthService accepted, nothing may end a command line or a header early.
        guard !address.isEmpty, address.count <= 320, !address.contains(where: { $0.isNewline || $0 == "<" || $0 == ">" || $0 == " " }),
            address.contains("@")
        else { throw MailError.invalidAddress(address) }
    }

    func tlsHandler() throws -> NIOSSLClientHandler {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile = settings.caFile { configuration.trustRoots = .file(caFile) }
        // An address is checked against the certificate's IP entries; SNI may only carry a name.
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        return try NIOSSLClientHandler(context: NIOSSLContext(configuration: configuration), serverHostname: isAddress ? nil : host)
    }

    func converse(message: String, to recipient: String) async throws {
        let implicitTLS = settings.security == .tls
        let mailer = self
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(Int64(settings.timeoutSeconds)))
            .connect(host: host, port: settings.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if implicitTLS { try channel.pipeline.syncOperations.addHandler(try mailer.tlsHandler()) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let underlying = channel.channel
        try await channel.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            /// One reply: `250-…` lines continue it, `250 …` ends it.
            func reply() async throws -> (code: Int, lines: [String]) {
                var texts: [String] = []
                while true {
                    guard let buffer = try await lines.next() else { throw MailError.connectionClosed }
                    var line = String(buffer: buffer)
                    if line.hasSuffix("\r") { line.removeLast() }
                    guard line.count >= 3, let code = Int(line.prefix(3)) else { throw MailError.refused(command: "(reply)", code: 0, text: line) }
                    texts.append(String(line.dropFirst(4)))
                    if line.count == 3 || line[line.index(line.startIndex, offsetBy: 3)] != "-" { return (code, texts) }
                }
            }
            func command(_ text: String, expect codes: Set<Int>, shown: String? = nil) async throws -> [String] {
                try await outbound.write(ByteBuffer(string: text + "\r\n"))
                let answer = try await reply()
                guard codes.contains(answer.code) else {
                    throw MailError.refused(command: shown ?? text, code: answer.code, text: answer.lines.joined(separator: " "))
                }
                return answer.lines
            }
            let greeting = try await reply()
            guard greeting.code == 220 else { throw MailError.refused(command: "(greeting)", code: greeting.code, text: greeting.lines.joined()) }
            var capabilities = try await command("EHLO feedfusion", expect: [250])
            if settings.security == .starttls {
                guard capabilities.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) else { throw MailError.unsupported("STARTTLS") }
                _ = try await command("STARTTLS", expect: [220])
                // The TLS handler goes before the line decoder: what follows is read through it.
                try await underlying.pipeline.addHandler(try tlsHandler(), position: .first)
                capabilities = try await command("EHLO feedfusion", expect: [250])
            }
            if let username = settings.username, let password = settings.password {
                guard capabilities.contains(where: { $0.uppercased().hasPrefix("AUTH") }) else { throw MailError.unsupported("AUTH") }
                let credentials = Data("\0\(username)\0\(password)".utf8).base64EncodedString()
                _ = try await command("AUTH PLAIN \(credentials)", expect: [235], shown: "AUTH PLAIN")
            }
            _ = try await command("MAIL FROM:<\(settings.senderEmail)>", expect: [250])
            _ = try await command("RCPT TO:<\(recipient)>", expect: [250, 251])
            _ = try await command("DATA", expect: [354])
            _ = try await command(message + "\r\n.", expect: [250], shown: "(message)")
            _ = try? await command("QUIT", expect: [221])
        }
    }
}

/// A mail as RFC 5322 text: headers (non-ASCII subject and name as RFC 2047 words) and a base64
/// body, so that no line of it can start with a dot or run too long, whatever the text.
struct MailMessage {
    let mail: Mail
    let from: String
    let fromName: String
    var date = Date()

    static func encodedWord(_ text: String) -> String {
        text.allSatisfy { $0.isASCII && !$0.isNewline } ? text : "=?UTF-8?B?\(Data(text.utf8).base64EncodedString())?="
    }

    var rendered: String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        let domain = from.split(separator: "@").last.map(String.init) ?? "feedfusion.invalid"
        let body = Data(mail.text.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        return [
            "From: \(Self.encodedWord(fromName)) <\(from)>",
            "To: <\(mail.to)>",
            "Subject: \(Self.encodedWord(mail.subject))",
            "Date: \(formatter.string(from: date))",
            "Message-ID: <\(UUID().uuidString.lowercased())@\(domain)>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            "",
            body,
        ].joined(separator: "\r\n")
    }
}
