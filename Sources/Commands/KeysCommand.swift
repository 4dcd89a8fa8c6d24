import AppConfig
import ArgumentParser
import Auth
import Database
import Foundation

/// `feedfusion keys`: the project URL and the `anon` / `service_role` keys to give a Supabase client.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Print the API URL and the anon and service_role keys.")

    @Flag(help: "Print {\"url\", \"anon_key\", \"service_role_key\"} as JSON.")
    var json = false

    func run() async throws {
        let settings = try await Settings.load()
        let (anon, serviceRole) = try await apiKeys(settings)
        if json {
            let object = ["url": settings.externalURL, "anon_key": anon, "service_role_key": serviceRole]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("API URL:          \(settings.externalURL)")
            print("anon key:         \(anon)")
            print("service_role key: \(serviceRole)  (secret: server-side only)")
        }
    }
}
