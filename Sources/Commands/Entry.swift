import ArgumentParser
import Foundation
import Logging

/// Runs the command line and exits: 0 on success, 1 with one line on stderr on failure.
public enum Entry {
    public static func main() async -> Never {
        LoggingSystem.bootstrap({ label, provider in LineLogHandler(label: label, metadataProvider: provider) }, metadataProvider: nil)
        let command: any ParsableCommand
        do {
            command = try FeedFusionCommand.parseAsRoot()
        } catch {
            FeedFusionCommand.exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
            LineLogHandler.flush()
            exit(0)
        } catch let error where error is CleanExit || error is ExitCode || FeedFusionCommand.exitCode(for: error) == .success {
            // `--help` and `help` reach here: ArgumentParser parses them into its own help command,
            // whose run() "fails" with the help request; printing it is ArgumentParser's job.
            LineLogHandler.flush()
            FeedFusionCommand.exit(withError: error)
        } catch {
            LineLogHandler.flush()
            FileHandle.standardError.write(Data("feedfusion: \(failureMessage(for: error))\n".utf8))
            exit(1)
        }
    }
}
