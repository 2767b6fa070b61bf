import ArgumentParser
import CertVaultConfiguration
import CertVaultCore
import CertVaultVault

/// Where the vault is and how to unlock it. Secrets never come from arguments. Options given here
/// win over the configuration file (`--config`) and the environment.
struct VaultOptions: ParsableArguments {
    @Option(name: .long, help: ConfigurationFile.help)
    var config: String?

    @Option(name: .long, help: ArgumentHelp("The vault folder (default: $CERTVAULT_VAULT, [vault] path of --config, or keys/vault).", valueName: "dir"))
    var vault: String?

    @Option(name: .long, help: ArgumentHelp("The root key file (default: $CERTVAULT_KEY_FILE, [vault] key_file of --config, or keys/vault-key/root.key).", valueName: "path"))
    var keyFile: String?

    @Option(name: .long, help: ArgumentHelp("Unlock with the passphrase in this file.", valueName: "path"))
    var passphraseFile: String?

    @Option(name: .long, help: ArgumentHelp("Unlock with the passphrase from this open file descriptor.", valueName: "fd"))
    var passphraseFd: Int32?

    @Flag(name: .long, help: "Unlock with the passphrase from standard input.")
    var passphraseStdin = false

    @Option(name: .long, help: ArgumentHelp("Unlock with the passphrase in this environment variable.", valueName: "name"))
    var passphraseEnv: String?

    static let names = "--passphrase-file, --passphrase-fd, --passphrase-stdin, --passphrase-env"

    /// The configuration file's values (with environment overrides), before this command's options.
    func configuration() throws -> ServiceConfiguration { try ConfigurationFile.load(config) }

    /// The vault settings after this command's options.
    func settings() throws -> ServiceConfiguration.VaultSettings {
        var settings = try configuration().vault
        if let vault { settings.path = vault }
        if let source = try SecretChoice.pick(file: passphraseFile, fd: passphraseFd, stdin: passphraseStdin, env: passphraseEnv,
                                              options: Self.names) {
            settings.unlock = .passphrase(source)
        } else if let keyFile {
            settings.unlock = .keyFile(keyFile)
        }
        return settings
    }

    var vaultPath: String { get throws { try settings().path } }

    /// The root key file (the default one when the vault is unlocked with a passphrase).
    var keyFilePath: String {
        get throws {
            if case .keyFile(let path) = try settings().unlock { return path }
            return "keys/vault-key/root.key"
        }
    }

    /// The passphrase's source, from an option or the configuration; nil with a key file.
    var passphraseSource: SecretSource? {
        get throws {
            if case .passphrase(let source) = try settings().unlock { return source }
            return nil
        }
    }

    func protection(_ parameters: Argon2Parameters = .default) throws -> RootKeyProtection {
        try settings().rootKeyProtection(parameters: parameters)
    }

    func validate() throws {
        let source = try SecretChoice.pick(file: passphraseFile, fd: passphraseFd, stdin: passphraseStdin, env: passphraseEnv,
                                           options: Self.names)
        if source != nil && keyFile != nil { throw ValidationError("Give either --key-file or a passphrase option, not both.") }
    }

    /// True when a vault exists at the configured folder.
    var vaultExists: Bool { get throws { try settings().exists } }

    func open() throws -> Vault {
        let vault = try settings().openVault()
        vault.onWarning = { Terminal.err("certvault: warning: \($0)\n") }
        return vault
    }
}
