import ArgumentParser
import CertVaultCore
import CertVaultVB365
import Logging

/// The `certvault` command-line tool.
@main
struct CertVault: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "certvault",
        abstract: "Issue and keep per-tenant certificates for Veeam Backup for Microsoft 365.",
        discussion: """
            Secrets are never taken as arguments: passwords come from a file, a file descriptor, \
            standard input or an environment variable. Data goes to standard output, diagnostics \
            to standard error.
            """,
        version: version,
        subcommands: [
            DemoCommand.self, InitCommand.self, IssueCommand.self, ListCommand.self, ShowCommand.self, ExportCommand.self, RetireCommand.self,
            VaultCommand.self, AuditCommand.self, OnboardCommand.self, RotateCommand.self, RestoreCredentialCommand.self, VB365Command.self,
            InspectCommand.self, PolicyCommand.self, ServeCommand.self, TokenCommand.self,
            InviteCommand.self, InvitationCommand.self, WebhookCommand.self, VersionCommand.self,
        ]
    )

    static func main() async {
        ProcessHardening.disableCoreDumps()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as CertVaultError {
            Terminal.reportError(error)
            Foundation.exit(1)
        } catch let error as VB365Error {
            Terminal.reportError(error.error)
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }
}

/// Options every command that logs shares.
struct LoggingOptions: ParsableArguments {
    @Flag(name: .long, help: "Log progress details to standard error.")
    var verbose = false

    func makeLogger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .info : .warning
        return logger
    }
}

import Foundation
