import Foundation
import Logging

/// One plain-text mail to one recipient.
public struct Mail: Sendable, Equatable {
    public var to: String
    public var subject: String
    public var text: String

    public init(to: String, subject: String, text: String) {
        self.to = to
        self.subject = subject
        self.text = text
    }
}

/// Sends mail. `SMTPMailer` speaks to an SMTP server; `LogMailer` writes mails to the log when no
/// server is configured (local development).
public protocol Mailer: Sendable {
    func send(_ mail: Mail) async throws
}

public enum MailError: Error, Equatable, CustomStringConvertible {
    /// The server answered `code` where another was expected, to `command`.
    case refused(command: String, code: Int, text: String)
    /// The server does not offer what the settings require (STARTTLS, AUTH).
    case unsupported(String)
    case connectionClosed
    case timeout
    case invalidAddress(String)

    public var description: String {
        switch self {
        case .refused(let command, let code, let text): "the SMTP server answered \(code) \(text) to \(command)"
        case .unsupported(let what): "the SMTP server does not offer \(what)"
        case .connectionClosed: "the SMTP server closed the connection"
        case .timeout: "the SMTP server did not answer in time"
        case .invalidAddress(let address): "'\(address)' cannot be a mail address"
        }
    }
}

/// No SMTP server configured: each mail is logged (with its text: codes and links included) so that
/// a developer can follow a recovery or confirmation locally. `verify` warns while this is in use.
public struct LogMailer: Mailer {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func send(_ mail: Mail) async throws {
        logger.notice(
            "mail not sent (SMTP_HOST is not set); it would have said:\n\(mail.text)",
            metadata: ["to": "\(mail.to)", "subject": "\(mail.subject)"])
    }
}
