import ArgumentParser
import CertVaultConfiguration
import CertVaultCore
import CertVaultOnboarding
import CertVaultVault
import Foundation

/// `certvault restore-credential TENANT`: what VB365 restore requests need, for restore tooling.
struct RestoreCredentialCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore-credential",
        abstract: "Hand restore tooling a tenant's applicationId, base64 PFX and its password (every retrieval is audited).",
        discussion: """
            Prints JSON with applicationId, applicationCertificate, applicationCertificatePassword, \
            organizationId, region and thumbprint: the fields of VB365's restore requests for \
            app-only access. The generation whose certificate VB365 reported for the organization is \
            preferred; --generation or --thumbprint pick another (a retired one works, with a warning). \
            Without --out the JSON goes to standard output, for a pipe. See docs/restore.md.
            """
    )

    @Argument(help: "The tenant id.") var tenant: String
    @Option(name: .long, help: ArgumentHelp("A specific generation.", valueName: "n")) var generation: Int?
    @Option(name: .long, help: ArgumentHelp("The generation with this SHA-1 thumbprint.", valueName: "hex")) var thumbprint: String?
    @Option(name: .long, help: ArgumentHelp("Write the JSON to this new file (0600) instead of standard output.", valueName: "path"))
    var out: String?
    @Option(name: .long, help: ArgumentHelp("Why the credential is needed; written to the audit log.", valueName: "text"))
    var purpose: String = "restore"
    @Flag(name: .long, help: "Leave the certificate and password out (for displays and reports).") var metadataOnly = false
    @Flag(name: .long, help: "JSON output (the default; accepted for scripts that pass it).") var json = false
    @Option(name: .long, help: ArgumentHelp("Where onboarding records are kept (default: $CERTVAULT_ONBOARDING, [onboarding] state_dir of --config, or keys/onboarding).", valueName: "dir"))
    var stateDir: String?
    @OptionGroup var vault: VaultOptions

    func validate() throws {
        if generation != nil && thumbprint != nil { throw ValidationError("Give --generation or --thumbprint, not both.") }
        guard purpose.count <= 200, !purpose.contains(where: { $0.isNewline }) else { throw ValidationError("--purpose must be one line of at most 200 characters.") }
    }

    func run() throws {
        let id = try TenantID(tenant)
        let folder = try stateDir ?? vault.configuration().onboarding.stateDirectory
        let record = FileManager.default.fileExists(atPath: folder) ? try OnboardingStore(folder: folder).load(id) : nil
        let opened = try vault.open()
        let credential = try RestoreCredential.retrieve(vault: opened, record: record, tenant: id, generation: generation, thumbprint: thumbprint,
                                                        purpose: "restore-credential: \(purpose)", secrets: !metadataOnly)
        var bytes = credential.json(includeSecrets: !metadataOnly)
        defer { SecureWipe.wipe(&bytes) }
        if let out {
            try PrivateFiles.writeNewFileAtomically(out, bytes: bytes)
            Terminal.err("certvault: wrote the restore credential of '\(id)' generation \(credential.generation) to \(out) (0600)\n")
        } else {
            try bytes.withUnsafeBytes { try PrivateFiles.writeAll(fd: STDOUT_FILENO, $0, what: "standard output") }
        }
        for warning in credential.warnings { Terminal.err("certvault: warning: \(warning)\n") }
    }
}
