import ArgumentParser
import CertVaultConfiguration
import CertVaultCore
import Foundation

/// The configuration file the CLI's vault and VB365 options fall back on: `--config FILE`, else
/// `$CERTVAULT_CONFIG`, else none. Precedence (docs/configuration.md): a flag on the command line,
/// then an environment variable, then the file, then the built-in default.
enum ConfigurationFile {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: [String: ServiceConfiguration] = [:]

    /// The file's values with the environment's overrides; read once per path and process.
    static func load(_ path: String?) throws -> ServiceConfiguration {
        let key = path ?? "\u{0}"
        if let cached = lock.withLock({ loaded[key] }) { return cached }
        let configuration = try ServiceConfiguration.load(path: path, environment: ProcessInfo.processInfo.environment)
        lock.withLock { loaded[key] = configuration }
        return configuration
    }

    static let help = ArgumentHelp(
        "Read the vault, VB365 and onboarding settings from this configuration file (default: $CERTVAULT_CONFIG); options given here win over it (docs/configuration.md).",
        valueName: "path")
}

/// `--config FILE` for commands that have no vault options (`vb365 check`).
struct ConfigurationFileOptions: ParsableArguments {
    @Option(name: .long, help: ConfigurationFile.help)
    var config: String?

    func load() throws -> ServiceConfiguration { try ConfigurationFile.load(config) }
}
