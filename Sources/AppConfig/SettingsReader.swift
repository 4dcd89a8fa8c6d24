import Configuration

/// Typed, validating access to raw configuration strings.
///
/// swift-configuration falls back to the default when a value cannot be converted; we read the raw
/// string instead so that a malformed value is reported rather than ignored.
struct SettingsReader {
    let config: ConfigReader

    func string(_ name: String, isSecret: Bool = false) throws -> String? {
        guard let value = config.string(forKey: ConfigKey(name), isSecret: isSecret) else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let raw = try string(name) else { return nil }
        guard let value = Int(raw), range.contains(value) else {
            throw SettingsError(
                setting: name, problem: "'\(raw)' is not a whole number between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    func number(_ name: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let raw = try string(name) else { return nil }
        guard let value = Double(raw), range.contains(value) else {
            throw SettingsError(setting: name, problem: "'\(raw)' is not a number between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    func boolean(_ name: String) throws -> Bool? {
        guard let raw = try string(name) else { return nil }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw SettingsError(setting: name, problem: "'\(raw)' is not true or false")
        }
    }
}
