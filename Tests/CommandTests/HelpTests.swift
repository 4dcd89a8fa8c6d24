import Foundation
import Testing
import TestSupport

/// `--help` and `help` print ArgumentParser's help and succeed; an unknown word is a usage error.
@Suite("Command line help")
struct HelpTests {
    @Test("--help, <command> --help and help <command> print the usage and exit 0")
    func help() async throws {
        let directory = FileManager.default.temporaryDirectory
        for (arguments, usage) in [
            (["--help"], "USAGE: feedfusion <subcommand>"),
            (["seed", "--help"], "USAGE: feedfusion seed"),
            (["help", "verify"], "USAGE: feedfusion verify"),
        ] {
            let outcome = try await CommandRunner.run(arguments, environment: [:], workingDirectory: directory)
            #expect(outcome.status == 0, "\(arguments): \(outcome.standardError)")
            #expect(outcome.standardOutput.contains(usage), "\(arguments): \(outcome.standardOutput)")
            #expect(!outcome.standardError.contains("CommandError"), "\(arguments): \(outcome.standardError)")
        }
    }

    @Test("an unknown argument is a usage error (64) that names it")
    func unknownArgument() async throws {
        let outcome = try await CommandRunner.run(
            ["nosuch"], environment: [:], workingDirectory: FileManager.default.temporaryDirectory)
        #expect(outcome.status == 64)
        #expect(outcome.standardError.contains("nosuch"))
    }
}
