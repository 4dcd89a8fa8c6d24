import AppConfig
import Foundation

extension Settings {
    /// The JWT secret: `JWT_SECRET` when set; in managed mode a generated one kept in the data
    /// folder, so that restarts keep sessions valid. Against an external database the secret must
    /// be configured, because every instance has to share it.
    public func resolvedJWTSecret() throws -> String {
        if let jwtSecret { return jwtSecret }
        guard isManagedDatabase else {
            throw SettingsError(setting: "JWT_SECRET", problem: "is required (at least 32 bytes) when DATABASE_URL is set")
        }
        return try SecretFile(url: dataDirectory.appendingPathComponent("jwt-secret")).loadOrCreate {
            randomToken(bytes: 48)
        }
    }
}
