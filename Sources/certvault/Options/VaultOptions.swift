import ArgumentParser
import CertVaultCore
import CertVaultVault

/// Where the vault is and how to unlock it. Secrets never come from arguments.
struct VaultOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The vault folder (default: $CERTVAULT_VAULT or keys/vault).", valueName: "dir"))
    var vault: String?

    @Option(name: .long, help: ArgumentHelp("The root key file (default: $CERTVAULT_KEY_FILE or keys/vault-key/root.key).", valueName: "path"))
    var keyFile: String?

    @Option(name: .long, help: ArgumentHelp("Unlock with the passphrase in this file.", valueName: "path"))
    var passphraseFile: String?

    @Option(name: .long, help: ArgumentHelp("Unlock with the passphrase from this open file descriptor.", valueName: "fd"))
    var passphraseFd: Int32?

    @Flag(name: .long, help: "Unlock with the passphrase from standard input.")
    var passphraseStdin = false

    @Option(name: .long, help: ArgumentHelp("Unlock with the passphrase in this environment variable.", valueName: "name"))
    var passphraseEnv: String?

    var vaultPath: String { vault ?? Environment.value("CERTVAULT_VAULT") ?? "keys/vault" }
    var keyFilePath: String { keyFile ?? Environment.value("CERTVAULT_KEY_FILE") ?? "keys/vault-key/root.key" }

    static let names = "--passphrase-file, --passphrase-fd, --passphrase-stdin, --passphrase-env"

    var passphraseSource: SecretSource? {
        try? SecretChoice.pick(file: passphraseFile, fd: passphraseFd, stdin: passphraseStdin, env: passphraseEnv, options: Self.names)
    }

    func protection(_ parameters: Argon2Parameters = .default) -> RootKeyProtection {
        if let source = passphraseSource { return .passphrase(source, parameters: parameters) }
        return .keyFile(path: keyFilePath)
    }

    func validate() throws {
        let source = try SecretChoice.pick(file: passphraseFile, fd: passphraseFd, stdin: passphraseStdin, env: passphraseEnv,
                                           options: Self.names)
        if source != nil && keyFile != nil { throw ValidationError("Give either --key-file or a passphrase option, not both.") }
    }

    /// True when a vault exists at the configured folder.
    var vaultExists: Bool { Vault.exists(at: vaultPath) }

    func open() throws -> Vault {
        let vault = try Vault.open(at: vaultPath, unlock: protection())
        vault.onWarning = { Terminal.err("certvault: warning: \($0)\n") }
        return vault
    }
}
