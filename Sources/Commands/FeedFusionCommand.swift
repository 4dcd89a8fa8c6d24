import ArgumentParser

/// `feedfusion`: the server and the tools that come with it.
public struct FeedFusionCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "feedfusion",
        abstract: "A social-feed backend compatible with the Supabase clients, on PostgreSQL.",
        subcommands: [
            ServeCommand.self, MigrateCommand.self, SeedCommand.self, KeysCommand.self, VerifyCommand.self, MaintenanceCommand.self,
            LoadTestCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )

    public init() {}
}
