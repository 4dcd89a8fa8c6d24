import Foundation
import Testing

@testable import Mail

/// What the SMTP client puts on the wire, apart from the server (the conversation itself is tested
/// end to end against aiosmtpd by tests/compat/test_mail.py, plain and with STARTTLS and AUTH).
@Suite("Mail messages")
struct MailMessageTests {
    @Test("headers and a base64 body: any text survives, no line starts with a dot or runs past 78 characters")
    func rendering() throws {
        let text = ".leading dot\nünïcödé ✓\r\n" + String(repeating: "long line ", count: 40) + "\n.\n"
        let message = MailMessage(
            mail: Mail(to: "someone@example.com", subject: "Réinitialiser", text: text), from: "auth@example.com", fromName: "FeedFusion"
        ).rendered
        let lines = message.components(separatedBy: "\r\n")
        #expect(lines.contains("To: <someone@example.com>"))
        #expect(lines.contains("From: FeedFusion <auth@example.com>"))
        #expect(lines.contains("Subject: =?UTF-8?B?\(Data("Réinitialiser".utf8).base64EncodedString())?="))
        #expect(lines.contains("Content-Transfer-Encoding: base64"))
        #expect(!message.contains("\n.") && lines.allSatisfy { $0.count <= 78 })
        #expect(!message.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "a bare line feed")
        let body = lines.drop { !$0.isEmpty }.dropFirst().joined()
        #expect(String(decoding: try #require(Data(base64Encoded: body)), as: UTF8.self) == text)
    }

    @Test("an address that could end a command or a header early is refused")
    func addresses() {
        for bad in ["", "no-at-sign", "a@b.c\r\nRCPT TO:<x@y.z>", "a@b.c>", "<a@b.c", "a b@c.d"] {
            #expect(throws: MailError.self) { try SMTPMailer.checkAddress(bad) }
        }
        #expect(throws: Never.self) { try SMTPMailer.checkAddress("first.last+tag@example.co.uk") }
    }
}
