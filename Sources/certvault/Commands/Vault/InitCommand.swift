import ArgumentParser
import CertVaultCore
import CertVaultVault

/// `certvault init`: create a vault.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create an encrypted vault with a fresh root key, in a key file or under a passphrase.",
        discussion: """
            With no passphrase option the root key goes to a new key file (mode 0600 in a 0700 folder, \
            default keys/vault-key/root.key). Keep a copy of it apart from the vault: without it the vault \
            cannot be opened. With a passphrase option the key is wrapped with Argon2id in the vault folder.
            """
    )

    @OptionGroup var vault: VaultOptions

    @Option(name: .long, help: "Argon2id passes, with a passphrase (2 to 10).")
    var argon2Ops: UInt64 = Argon2Parameters.default.operations

    @Option(name: .long, help: "Argon2id memory in MiB, with a passphrase (64 to 1024).")
    var argon2MemoryMib: UInt64 = Argon2Parameters.default.memoryBytes >> 20

    func validate() throws {
        let passes = Argon2Parameters.minimumOperations...Argon2Parameters.maximumOperations
        guard passes.contains(argon2Ops) else {
            throw ValidationError("--argon2-ops must be \(passes.lowerBound) to \(passes.upperBound) (the default is 3).")
        }
        let mib = (Argon2Parameters.minimumMemoryBytes >> 20)...(Argon2Parameters.maximumMemoryBytes >> 20)
        guard mib.contains(argon2MemoryMib), Argon2Parameters.bytes(mebibytes: argon2MemoryMib) != nil else {
            throw ValidationError("--argon2-memory-mib must be \(mib.lowerBound) to \(mib.upperBound) (the default is 256).")
        }
    }

    func run() throws {
        guard let memory = Argon2Parameters.bytes(mebibytes: argon2MemoryMib) else {
            throw ValidationError("--argon2-memory-mib \(argon2MemoryMib) is too large.")
        }
        let parameters = Argon2Parameters(operations: argon2Ops, memoryBytes: memory)
        let created = try Vault.create(at: vault.vaultPath, protection: vault.protection(parameters))
        var text = "Created a vault at \(created.path)/ (folder 0700, files 0600).\n"
        if try vault.passphraseSource == nil {
            text += "The root key is in \(try vault.keyFilePath): back it up apart from the vault; without it nothing can be decrypted.\n"
        } else {
            text += "The root key is wrapped under your passphrase with Argon2id (\(argon2Ops) passes, \(argon2MemoryMib) MiB).\n"
        }
        text += "'certvault issue TENANT' now keeps every generation there; 'certvault list' shows them.\n"
        Terminal.out(text)
    }
}
