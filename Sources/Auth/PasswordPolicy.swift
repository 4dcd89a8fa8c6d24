import AppConfig
import Foundation

/// Decides whether a password is strong enough: long enough, with the required character
/// classes, and not one of the ~20,000 most common passwords (Django's list, shipped in Resources).
public struct PasswordPolicy: Sendable {
    public let minimumLength: Int
    public let requiredClasses: [AuthSettings.CharacterClass]
    /// bcrypt reads at most 72 bytes; longer passwords would be silently truncated.
    public static let maximumBytes = 72

    public init(minimumLength: Int, requiredClasses: [AuthSettings.CharacterClass]) {
        self.minimumLength = minimumLength
        self.requiredClasses = requiredClasses
    }

    /// Throws `validation_failed` for an unusable password and `weak_password` with reasons for a weak one.
    public func check(_ password: String) throws(AuthError) {
        guard password.utf8.count <= Self.maximumBytes else {
            throw .validationFailed("Password cannot be longer than \(Self.maximumBytes) bytes")
        }
        var reasons: [String] = []
        if password.count < minimumLength { reasons.append("length") }
        if !requiredClasses.allSatisfy({ Self.contains(password, $0) }) { reasons.append("characters") }
        if Self.commonPasswords.contains(password.lowercased()) { reasons.append("pwned") }
        guard reasons.isEmpty else {
            var rules = ["at least \(minimumLength) characters"]
            if !requiredClasses.isEmpty {
                rules.append("one of each: " + requiredClasses.map(\.rawValue).joined(separator: ", "))
            }
            rules.append("not a common password")
            throw AuthError(
                status: 422, code: "weak_password",
                message: "Password is too weak: use " + rules.joined(separator: "; "),
                weakPasswordReasons: reasons)
        }
    }

    static func contains(_ password: String, _ characterClass: AuthSettings.CharacterClass) -> Bool {
        password.unicodeScalars.contains { scalar in
            switch characterClass {
            case .lower: CharacterSet.lowercaseLetters.contains(scalar)
            case .upper: CharacterSet.uppercaseLetters.contains(scalar)
            case .digit: CharacterSet.decimalDigits.contains(scalar)
            case .symbol: !CharacterSet.alphanumerics.contains(scalar) && !CharacterSet.whitespaces.contains(scalar)
            }
        }
    }

    /// Loaded once, on first use.
    static let commonPasswords: Set<String> = {
        guard let url = Bundle.module.url(forResource: "Resources/common-passwords", withExtension: "txt")
            ?? Bundle.module.url(forResource: "common-passwords", withExtension: "txt"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            preconditionFailure("common-passwords.txt is missing from the build")
        }
        return Set(text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
    }()
}
