import ArgumentParser
import CertVaultConfiguration
import CertVaultCore
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultVault
import Foundation

/// `certvault issue`: one certificate and PFX per tenant.
struct IssueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a self-signed certificate and PFX for one tenant, or for every tenant in a CSV file.",
        discussion: """
            When a vault exists (see 'certvault init'), each certificate is stored there as the tenant's next \
            generation. An export folder is written when --out is given, or when there is no vault: \
            <out>/<tenant>/ (folder 0700, files 0600) with <tenant>.pfx, <tenant>.pfx.b64 (the value of \
            VB365's applicationCertificate), <tenant>.cer and <tenant>.pem (for Entra ID), summary.json and, \
            unless --password-out says otherwise, password.txt. Existing exports are never overwritten.

            The PFX password is generated (random, per certificate) unless one is supplied with \
            --password-file, --password-fd, --password-stdin or --password-env.
            """
    )

    @Argument(help: "The tenant id: 1-64 characters of a-z, 0-9, '-', '_', '.'.")
    var tenant: String?

    @Option(name: .long, help: ArgumentHelp("A CSV file with columns tenant[,org][,domain]: issue for every row.", valueName: "file.csv"))
    var from: String?

    @Option(name: .long, help: ArgumentHelp(PolicyChoice.help, valueName: "path"))
    var policy: String?

    @Option(name: .long, help: ArgumentHelp("The organisation's display name, for {org} (default: the tenant id).", valueName: "name"))
    var org: String?

    @Option(name: .long, help: ArgumentHelp("The Microsoft 365 domain, for {domain}.", valueName: "domain"))
    var domain: String?

    @Option(name: .long, help: ArgumentHelp(
        "Also write <dir>/<tenant>/ export folders (default without a vault: $CERTVAULT_EXPORT_DIR or keys/issued).", valueName: "dir"))
    var out: String?

    @Flag(name: .long, help: "Do not store into the vault even if one exists.")
    var noVault = false

    @Option(name: .long, help: ArgumentHelp(
        "Send PFX passwords to 'fd:N' (an open file descriptor) or to a new file, as 'tenant<TAB>password' lines, instead of password.txt.",
        valueName: "fd:N|path"))
    var passwordOut: String?

    @Option(name: .long, help: ArgumentHelp("How many certificates to issue at once with --from (default: all cores).", valueName: "n"))
    var jobs: Int?

    @Flag(name: .long, help: "Print the summary as JSON (never the password).")
    var json = false

    @OptionGroup var password: PasswordInputOptions
    @OptionGroup var vault: VaultOptions
    @OptionGroup var logging: LoggingOptions

    /// Where exports go, or nil when only the vault receives the certificate.
    var exportFolder: String? {
        get throws {
            if let out { return out }
            return try useVault ? nil : Environment.value("CERTVAULT_EXPORT_DIR") ?? "keys/issued"
        }
    }

    /// True when the vault (--vault, the environment, --config, or the default) exists and --no-vault is not given.
    var useVault: Bool {
        get throws {
            if noVault { return false }
            return try vault.vaultExists
        }
    }

    func validate() throws {
        if (tenant == nil) == (from == nil) { throw ValidationError("Give either a tenant id or --from FILE.csv.") }
        if from != nil && password.source != nil {
            throw ValidationError("--from issues a fresh random password per tenant; a supplied password cannot be used with it.")
        }
        if from != nil && (org != nil || domain != nil) {
            throw ValidationError("With --from, give org and domain as CSV columns, not as options.")
        }
        if let jobs, jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be between 1 and 256.") }
    }

    func run() async throws {
        let logger = logging.makeLogger("certvault.issue")
        let issuer = Issuer(policy: try PolicyChoice.load(policy, configuration: try vault.configuration()), logger: logger)
        // Unlock first, so that a wrong key or passphrase costs no key generation.
        let store = try useVault ? try vault.open() : nil
        let passwords = try PasswordSink(passwordOut)
        do {
            if let from {
                try await issueBulk(from: from, issuer: issuer, passwords: passwords, store: store)
            } else {
                try issueOne(issuer: issuer, passwords: passwords, store: store)
            }
        } catch {
            passwords.removeFileIfUnused()
            throw error
        }
    }

    private func issueOne(issuer: Issuer, passwords: PasswordSink, store: Vault?) throws {
        let tenantID = try TenantID(tenant!)
        var request = IssuanceRequest(tenant: tenantID, org: org, domain: domain)
        if let source = password.source {
            request.suppliedPassword = try source.read()
            request.passwordSource = source.description
        }
        let prepared = try issuer.prepare(request)
        let exportFolder = try self.exportFolder
        if let exportFolder { try ensureNoExport(for: [tenantID], in: exportFolder) }
        let credential = try issuer.issue(prepared)
        let generation = try store?.store(tenant: tenantID, payload: EntryPayload(credential))
        var paths: CredentialExport.Paths?
        if let exportFolder {
            paths = try CredentialExport.write(credential, summaryJSON: Array(try Terminal.json(credential.summary).utf8),
                                               to: exportFolder, password: passwords.destination) { try passwords.record(credential) }
        } else {
            try passwords.record(credential)
        }
        let stored = generation.map { StoredIn(vault: store!.path, generation: $0) }
        if json {
            Terminal.out(try Terminal.json(IssueResult(summary: credential.summary, files: paths, vault: stored)) + "\n")
        } else {
            Terminal.out(Self.humanSummary(credential.summary, paths: paths, stored: stored, passwordNote: passwords.note))
        }
    }

    private func issueBulk(from path: String, issuer: Issuer, passwords: PasswordSink, store: Vault?) async throws {
        let bytes: [UInt8]
        do {
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            guard size <= 16 << 20 else {
                throw CertVaultError(.invalidInput, "The tenant file '\(path)' is larger than 16 MiB.",
                                     hint: "Split it into several files.")
            }
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch let error as CertVaultError {
            throw error
        } catch {
            throw CertVaultError(.invalidInput, "Cannot read the tenant file '\(path)'.",
                                 hint: "Check the path; the file must be UTF-8 CSV with a 'tenant' header.")
        }
        let intakes = try TenantIntake.parseCSV(bytes: bytes, source: path)
        // Check every row before generating any key, so a bad row costs nothing.
        let prepared = try intakes.map { try issuer.prepare(IssuanceRequest(tenant: $0.tenant, org: $0.org, domain: $0.domain)) }
        let exportFolder = try self.exportFolder
        if let exportFolder { try ensureNoExport(for: intakes.map(\.tenant), in: exportFolder) }

        let jobs = self.jobs ?? ProcessInfo.processInfo.activeProcessorCount
        let progress = Progress(total: prepared.count, interactive: Terminal.stderrIsTerminal && !logging.verbose)
        let out = exportFolder
        let summaryJSON: @Sendable (CredentialSummary) throws -> [UInt8] = { Array(try Terminal.json($0).utf8) }
        let json = self.json
        let outcome = try await BulkIssuance.run(prepared, issuer: issuer, jobs: jobs, exportFolder: out,
                                                 passwordDestination: passwords.destination, summaryJSON: summaryJSON,
                                                 recordPassword: { try passwords.record($0) }, vault: store) { event in
            switch event {
            case .issued(let issued):
                let tenant = issued.credential.tenant
                progress.step("issued \(tenant)")
                if !json {
                    let place = issued.files?.folder ?? issued.vault.map { "\($0.path) generation \($0.generation)" } ?? ""
                    Terminal.out("\(tenant)\t\(issued.credential.summary.thumbprintSHA1)\t\(issued.credential.summary.notAfter)\t\(place)\n")
                }
            case .failed(let tenant, _):
                progress.step("FAILED \(tenant)")
            }
        }
        let results = outcome.issued.map {
            IssueResult(summary: $0.credential.summary, files: $0.files, vault: $0.vault.map { StoredIn(vault: $0.path, generation: $0.generation) })
        }
        let failures = outcome.failures
        progress.finish("issued \(results.count) of \(prepared.count) certificates into \([out, store?.path].compactMap { $0 }.joined(separator: " and "))")
        if json {
            Terminal.out(try Terminal.json(results.sorted { $0.summary.tenant < $1.summary.tenant }) + "\n")
        }
        if !failures.isEmpty {
            for (tenant, error) in failures { Terminal.err("certvault: \(tenant): \(error.reason)\n") }
            throw CertVaultError(failures[0].1.code, "\(failures.count) of \(prepared.count) tenants could not be issued; "
                + "the others are complete.",
                hint: "Fix the cause above and run again with a CSV of only the failed tenants.")
        }
    }

    private func ensureNoExport(for tenants: [TenantID], in out: String) throws {
        let existing = tenants.filter { FileManager.default.fileExists(atPath: "\(out)/\($0)") }
        guard existing.isEmpty else {
            let names = existing.prefix(5).map(\.rawValue).joined(separator: ", ") + (existing.count > 5 ? ", …" : "")
            throw CertVaultError(.alreadyExists, "\(existing.count) tenant(s) already have an export in '\(out)': \(names).",
                                 hint: "certvault never overwrites issued credentials; move those folders away or use --out.")
        }
    }

    static func humanSummary(_ summary: CredentialSummary, paths: CredentialExport.Paths?, stored: StoredIn?, passwordNote: String?) -> String {
        let profile = summary.pkcs12Profile == "compat" ? "compat (3DES, SHA-1 MAC)" : "modern (AES-256, SHA-256 MAC)"
        let tenant = summary.tenant.rawValue
        var lines = [
            "Issued a certificate for tenant '\(tenant)' (policy '\(summary.policy)').",
            "  friendly name  \(summary.friendlyName)",
            "  subject        \(summary.subject)",
            "  serial         \(summary.serialNumber)",
            "  valid          \(summary.notBefore) to \(summary.notAfter)",
            "  thumbprint     \(summary.thumbprintSHA1)  (SHA-1, as Entra ID and VB365 show it)",
            "  SHA-256        \(summary.fingerprintSHA256)",
            "  key            RSA-\(summary.keyBits), signed with \(summary.signatureDigest)",
            "  PFX            \(profile), \(summary.pkcs12Iterations) iterations, password \(summary.password)",
        ]
        if let stored {
            lines.append("Stored in the vault \(stored.vault) as generation \(stored.generation) (PFX, password and facts, encrypted).")
            lines.append("  certvault show \(tenant)      certvault export \(tenant) --out \(tenant).pfx")
        }
        guard let paths else {
            if let passwordNote { lines.append("  (the PFX password also went to \(passwordNote))") }
            return lines.joined(separator: "\n") + "\n"
        }
        lines.append("Files in \(paths.folder)/ (folder 0700, files 0600):")
        var files = [
            ("\(tenant).pfx", "PKCS#12 with the private key and certificate"),
            ("\(tenant).pfx.b64", "base64 of the PFX: VB365's applicationCertificate"),
            ("\(tenant).cer", "the certificate (DER) to upload to Entra ID"),
            ("\(tenant).pem", "the certificate (PEM)"),
            ("summary.json", "these facts as JSON"),
        ]
        if paths.password != nil {
            files.append(("password.txt", "the PFX password (keep it with the PFX; VB365 never returns it)"))
        }
        let width = files.map(\.0.count).max() ?? 0
        for (name, what) in files {
            lines.append("  " + name + String(repeating: " ", count: width - name.count + 3) + what)
        }
        if paths.password == nil, let passwordNote {
            lines.append("  (the PFX password went to \(passwordNote))")
        }
        lines.append("Inspect them with:")
        lines.append("  openssl x509 -in \(paths.certificatePEM) -noout -text")
        if let passwordPath = paths.password {
            lines.append("  openssl pkcs12 -info -noout -in \(paths.pfx) -passin file:\(passwordPath)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// What `issue --json` prints per tenant.
struct IssueResult: Codable, Sendable {
    let summary: CredentialSummary
    let files: CredentialExport.Paths?
    let vault: StoredIn?
}

/// Where a certificate was stored in the vault.
struct StoredIn: Codable, Sendable {
    let vault: String
    let generation: Int
}

/// Where passwords go when they do not go into each export folder. Shared by the bulk tasks.
final class PasswordSink: @unchecked Sendable {
    // Safety: the mutable state (`recorded`) and writes to `fd` are guarded by `lock`.
    let destination: CredentialExport.PasswordDestination
    private let fd: Int32?
    private let ownsFD: Bool
    private let lock = NSLock()
    private var recorded = 0
    let note: String?

    init(_ spec: String?) throws {
        guard let spec else {
            destination = .exportFolder
            fd = nil
            ownsFD = false
            note = nil
            return
        }
        if spec.hasPrefix("fd:") {
            guard let number = Int32(spec.dropFirst(3)), number >= 0, fcntl(number, F_GETFD) != -1 else {
                throw CertVaultError(.secretSourceUnreadable, "--password-out \(spec) does not name an open file descriptor.",
                                     hint: "Open it in the shell, e.g. '3>passwords.tsv' with --password-out fd:3.")
            }
            destination = .fileDescriptor(number)
            fd = number
            ownsFD = false
            note = "file descriptor \(number)"
        } else {
            let opened = open(spec, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard opened >= 0 else {
                throw CertVaultError(errno == EEXIST ? .alreadyExists : .fileSystem, "Cannot create the password file '\(spec)'.",
                                     hint: "It must not exist yet; certvault never overwrites a password file.",
                                     underlying: PrivateFiles.errnoText())
            }
            destination = .file(spec)
            fd = opened
            ownsFD = true
            note = "'\(spec)'"
        }
    }

    /// Deletes a password file this run created but never wrote to, so a failed run leaves nothing.
    func removeFileIfUnused() {
        lock.withLock {
            guard recorded == 0, ownsFD, case .file(let path) = destination else { return }
            unlink(path)
        }
    }

    deinit {
        if ownsFD, let fd { close(fd) }
    }

    /// Writes `tenant<TAB>password\n` in one write and flushes it, when passwords go to a file
    /// or descriptor. Called before the tenant's export is published.
    func record(_ credential: IssuedCredential) throws {
        try record(tenant: credential.tenant, password: credential.password, withTenant: true)
    }

    /// Writes one password line: `tenant<TAB>password` or, for a single export, the password alone.
    func record(tenant: TenantID, password secret: SecretBytes, withTenant: Bool) throws {
        guard let fd else { return }
        let prefix = withTenant ? Array("\(tenant)\t".utf8) : []
        let line = SecretBytes(count: prefix.count + secret.count + 1) { buffer in
            buffer.copyBytes(from: prefix)
            secret.withUnsafeBytes { password in
                UnsafeMutableRawBufferPointer(rebasing: buffer[prefix.count..<prefix.count + password.count]).copyMemory(from: password)
            }
            buffer[buffer.count - 1] = UInt8(ascii: "\n")
        }
        try lock.withLock {
            try line.withUnsafeBytes { try PrivateFiles.writeAll(fd: fd, $0, what: "the password output") }
            // A pipe or terminal cannot be fsynced (EINVAL); a file must be.
            if fsync(fd) != 0 && errno != EINVAL && errno != EROFS {
                throw CertVaultError(.fileSystem, "Cannot flush the password output.", underlying: PrivateFiles.errnoText())
            }
            recorded += 1
        }
    }
}

/// Reads environment variables without copying the whole environment into Swift strings.
enum Environment {
    static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

/// Which issuance policy a command uses: `--policy`, else `$CERTVAULT_POLICY`, else the built-in
/// default (the text of `policy/default.toml`), so that an installed tool works from any folder.
enum PolicyChoice {
    static let help = "The issuance policy file (default: $CERTVAULT_POLICY, else the built-in default that policy/default.toml spells out)."

    static func load(_ option: String?) throws -> IssuancePolicy {
        try PolicyLoader.load(pathOrBuiltIn: option ?? Environment.value("CERTVAULT_POLICY").flatMap { $0.isEmpty ? nil : $0 })
    }

    /// `--policy` (a path), else the configuration's policy (`$CERTVAULT_POLICY`, `[onboarding] policy`:
    /// a path or a name in `[policy] folder`), else the built-in default.
    static func load(_ option: String?, configuration: ServiceConfiguration) throws -> IssuancePolicy {
        if let option { return try PolicyLoader.load(path: option) }
        return try configuration.issuancePolicy()
    }
}
