import ArgumentParser
import CertVaultCore
import CertVaultIssuer
import CertVaultVault
import Foundation

/// `certvault export`: read a stored certificate out of the vault (audited).
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a stored certificate out of the vault as PFX, base64 of the PFX, or PEM; the read is audited.",
        discussion: "The PFX password goes to --password-out (a new 0600 file, or fd:N), never to the terminal."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case pfx, base64, pem }

    @Argument(help: "The tenant id.")
    var tenant: String

    @Option(name: .long, help: "The generation (default: the newest active one).")
    var generation: Int?

    @Option(name: .long, help: "pfx, base64 (of the PFX, one line) or pem (the certificate only).")
    var format: Format = .pfx

    @Option(name: .long, help: ArgumentHelp("The new file to write (mode 0600).", valueName: "path"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("Where the PFX password goes: a new file (default <out>.password) or fd:N.",
                                            valueName: "path|fd:N"))
    var passwordOut: String?

    @Option(name: .long, help: "Why it is read out, for the audit log (e.g. 'restore ticket 4711').")
    var purpose: String = "export"

    @OptionGroup var vault: VaultOptions

    func run() throws {
        let tenantID = try TenantID(tenant)
        let opened = try vault.open()
        let needsPassword = format != .pem
        let passwords = needsPassword ? try PasswordSink(passwordOut ?? "\(out).password") : nil
        do {
            let (chosen, payload, metadata) = try opened.readOut(tenant: tenantID, generation: generation, purpose: "\(purpose) (\(format.rawValue))")
            let bytes: [UInt8]
            switch format {
            case .pfx: bytes = payload.pfx
            case .base64: bytes = Array(Base64.encode(payload.pfx).utf8)
            case .pem:
                let body = Base64.encode(payload.certificateDER)
                let lines = stride(from: 0, to: body.count, by: 64).map { offset -> String in
                    let start = body.index(body.startIndex, offsetBy: offset)
                    return String(body[start..<body.index(start, offsetBy: min(64, body.count - offset))])
                }
                bytes = Array(("-----BEGIN CERTIFICATE-----\n" + lines.joined(separator: "\n") + "\n-----END CERTIFICATE-----\n").utf8)
            }
            try PrivateFiles.writeNewFileAtomically(out, bytes: bytes)
            try passwords?.record(tenant: tenantID, password: payload.password, withTenant: false)
            let note = metadata.status == .active ? "" : " (this generation is \(metadata.status.rawValue))"
            Terminal.out("Wrote \(tenantID) generation \(chosen)\(note) as \(format.rawValue) to \(out)"
                + (needsPassword ? "; password to \(passwords?.note ?? "")" : "") + ".\n")
        } catch {
            passwords?.removeFileIfUnused()
            throw error
        }
    }
}

/// `certvault retire`: keep a generation for old restores but stop using it.
struct RetireCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retire", abstract: "Mark a generation retired: kept for restores of old backups, not used for new work.")

    @Argument(help: "The tenant id.")
    var tenant: String

    @Option(name: .long, help: "The generation to retire.")
    var generation: Int

    @OptionGroup var vault: VaultOptions

    func run() throws {
        let tenantID = try TenantID(tenant)
        try vault.open().updateMetadata(tenant: tenantID, generation: generation, action: "entry.retire") { $0.status = .retired }
        Terminal.out("Retired \(tenantID) generation \(generation).\n")
    }
}
