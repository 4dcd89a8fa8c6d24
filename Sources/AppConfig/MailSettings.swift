/// Mail the auth service sends (password recovery, sign-up confirmation): the SMTP server, the
/// sender, and the one-time tokens' rules. Without `SMTP_HOST`, mails are written to the server's
/// log instead of sent (local development; `verify` warns about it).
public struct MailSettings: Sendable {
    public enum Security: String, Sendable, CaseIterable {
        /// Plain SMTP: a relay on loopback or a private network only.
        case none
        /// `STARTTLS` after the greeting (submission, port 587); refused if the server does not offer it.
        case starttls
        /// TLS from the first byte (port 465).
        case tls
    }

    public var host: String?
    public var port: Int = 587
    public var security: Security = .starttls
    public var username: String?
    public var password: String?
    /// A PEM file of the certificates to trust instead of the system's (a private relay's own CA).
    public var caFile: String?
    /// The sender (`SMTP_ADMIN_EMAIL`, as GoTrue names it) and its display name.
    public var senderEmail = "no-reply@feedfusion.invalid"
    public var senderName = "FeedFusion"
    /// Where links in mails lead (the app): `SITE_URL`, else the server's external URL.
    public var siteURL: String?
    /// How long a mailed code or link works.
    public var tokenLifetimeSeconds = 900
    /// At most one mail of a kind per account in this many seconds.
    public var sendIntervalSeconds = 60
    /// How long one SMTP conversation may take.
    public var timeoutSeconds = 10

    public init() {}

    public var isConfigured: Bool { host != nil }
}

extension MailSettings {
    init(reader: SettingsReader) throws {
        self.init()
        host = try reader.string("SMTP_HOST")
        port = try reader.integer("SMTP_PORT", in: 1...65_535) ?? port
        if let raw = try reader.string("SMTP_TLS") {
            guard let security = Security(rawValue: raw.lowercased()) else {
                throw SettingsError(setting: "SMTP_TLS", problem: "'\(raw)' is not one of none, starttls, tls")
            }
            self.security = security
        } else if port == 465 {
            security = .tls
        }
        username = try reader.string("SMTP_USER")
        password = try reader.string("SMTP_PASS", isSecret: true)
        caFile = try reader.string("SMTP_CA_FILE")
        senderEmail = try reader.string("SMTP_ADMIN_EMAIL") ?? senderEmail
        senderName = try reader.string("SMTP_SENDER_NAME") ?? senderName
        for (name, value) in [("SMTP_ADMIN_EMAIL", senderEmail), ("SMTP_SENDER_NAME", senderName)]
        where value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "<" || $0 == ">" || $0 == "\"" }) {
            throw SettingsError(setting: name, problem: "must not contain line breaks, <, > or quotes")
        }
        if (username == nil) != (password == nil) {
            throw SettingsError(setting: username == nil ? "SMTP_USER" : "SMTP_PASS", problem: "SMTP_USER and SMTP_PASS go together")
        }
        siteURL = try reader.string("SITE_URL").map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        tokenLifetimeSeconds = try reader.integer("MAILER_OTP_EXPIRY_SECONDS", in: 60...86_400) ?? tokenLifetimeSeconds
        sendIntervalSeconds = try reader.integer("MAILER_SEND_INTERVAL_SECONDS", in: 0...3600) ?? sendIntervalSeconds
        timeoutSeconds = try reader.integer("SMTP_TIMEOUT_SECONDS", in: 1...120) ?? timeoutSeconds
    }
}
