import ArgumentParser
import CertVaultCore
import CertVaultIssuer
import CertVaultVault
import Foundation

#if canImport(Glibc)
import Glibc
#endif

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
        var existing = stat()
        if lstat(out, &existing) == 0 {
            throw CertVaultError(.alreadyExists, "'\(out)' already exists; certvault never overwrites a file.",
                                 hint: "Choose another --out, or move the old file away first.")
        }
        let needsPassword = format != .pem
        let passwordSpec = needsPassword ? passwordOut ?? "\(out).password" : nil
        let descriptor = try passwordSpec.flatMap { $0.hasPrefix("fd:") ? try PasswordSink($0) : nil }
        let passwordFile = passwordSpec.flatMap { $0.hasPrefix("fd:") ? nil : $0 }
        let leftover = try passwordFile.map(Self.existingPasswordFile) ?? .none
        var wrotePassword = false
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
            // The password first, the file it opens last: a kill in between leaves a password
            // file that the rerun recognises (it holds the same password) and keeps.
            if let passwordFile {
                let line = Self.passwordLine(payload.password)
                switch leftover {
                case .none:
                    try Leftovers.writeNewFileAtomically(passwordFile, secret: line)
                    wrotePassword = true
                case .empty:
                    Terminal.err("certvault: note: replacing the empty '\(passwordFile)' left by an interrupted export.\n")
                    try Leftovers.replaceFileAtomically(passwordFile, secret: line)
                    wrotePassword = true
                case .candidate:
                    guard Self.fileHolds(passwordFile, line) else {
                        throw CertVaultError(.alreadyExists, "The password file '\(passwordFile)' already exists and holds another password.",
                                             hint: "certvault never overwrites a password file; move it away, or give another --password-out.")
                    }
                    Terminal.err("certvault: note: kept '\(passwordFile)', left by an interrupted export of the same generation.\n")
                }
            }
            try Leftovers.writeNewFileAtomically(out, bytes: bytes)
            try descriptor?.record(tenant: tenantID, password: payload.password, withTenant: false)
            let note = metadata.status == .active ? "" : " (this generation is \(metadata.status.rawValue))"
            let passwordNote = passwordFile.map { "'\($0)'" } ?? descriptor?.note ?? ""
            Terminal.out("Wrote \(tenantID) generation \(chosen)\(note) as \(format.rawValue) to \(out)"
                + (needsPassword ? "; password to \(passwordNote)" : "") + ".\n")
        } catch {
            if wrotePassword, let passwordFile { Leftovers.shred(passwordFile) }
            throw error
        }
    }

    /// What is already at the password file's path.
    enum ExistingPassword { case none, empty, candidate }

    /// An empty regular file of ours is a leftover of an interrupted export (older releases
    /// created the file before reading); a short one may hold the same password from an
    /// interrupted run (checked after the read); anything else is never touched.
    static func existingPasswordFile(_ path: String) throws -> ExistingPassword {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .none }
        if (info.st_mode & S_IFMT) == S_IFREG && info.st_uid == geteuid() && info.st_mode & 0o077 == 0 {
            if info.st_size == 0 { return .empty }
            if info.st_size <= 1024 { return .candidate }
        }
        throw CertVaultError(.alreadyExists, "Cannot create the password file '\(path)': it already exists.",
                             hint: "It must not exist yet; certvault never overwrites a password file.")
    }

    /// The password file's content: the password and a line feed.
    static func passwordLine(_ password: SecretBytes) -> SecretBytes {
        SecretBytes(count: password.count + 1) { buffer in
            password.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[0..<password.count]).copyMemory(from: $0) }
            buffer[password.count] = UInt8(ascii: "\n")
        }
    }

    /// Whether the file holds exactly `content` (compared in constant time; the copy is wiped).
    static func fileHolds(_ path: String, _ content: SecretBytes) -> Bool {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // One byte more than expected, to notice a longer file.
        var bytes = [UInt8](repeating: 0, count: content.count + 1)
        defer { SecureWipe.wipe(&bytes) }
        var done = 0
        while done < bytes.count {
            let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            done += got
        }
        guard done == content.count else { return false }
        return content.withUnsafeBytes { expected in
            var difference: UInt8 = 0
            for index in 0..<expected.count { difference |= bytes[index] ^ expected[index] }
            return difference == 0
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
