internal import CertVaultCore

/// Writes an issued credential to an export folder.
///
/// Layout of `<base>/<tenant>/` (folder 0700, every file 0600, written in a staging folder and
/// renamed into place in one step, never overwriting an earlier export):
///
/// | file | content |
/// | --- | --- |
/// | `<tenant>.pfx` | the PKCS#12 file |
/// | `<tenant>.pfx.b64` | base64 of it, one line, no line break: the API's `applicationCertificate` |
/// | `<tenant>.cer` | the certificate in DER, for Entra ID |
/// | `<tenant>.pem` | the certificate in PEM |
/// | `password.txt` | the PFX password, only with ``PasswordDestination/exportFolder`` |
/// | `summary.json` | the ``CredentialSummary`` |
public enum CredentialExport {
    /// Where the PFX password goes.
    public enum PasswordDestination: Sendable, Hashable {
        /// `password.txt` in the tenant's export folder.
        case exportFolder
        /// A new 0600 file at this path (one line `tenant<TAB>password` per tenant).
        case file(String)
        /// An open file descriptor (one line `tenant<TAB>password` per tenant).
        case fileDescriptor(Int32)
    }

    /// The paths written for one tenant.
    public struct Paths: Sendable, Hashable, Codable {
        public let folder: String
        public let pfx: String
        public let pfxBase64: String
        public let certificateDER: String
        public let certificatePEM: String
        public let password: String?
        public let summary: String
    }

    /// Whether `name` is a staging folder this type makes: `.staging-<tenant>-<16 hex digits>`.
    public static func isStagingName(_ name: String) -> Bool {
        guard name.hasPrefix(".staging-"), name.count > 26 else { return false }
        let suffix = name.suffix(17)
        guard suffix.first == "-", suffix.dropFirst().allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return false }
        return (try? TenantID(String(name.dropFirst(9).dropLast(17)))) != nil
    }

    /// Removes abandoned staging folders in an export folder now (an `issue` run does so before
    /// its first export into the folder); returns their names. Live ones (locked by the run
    /// writing them) and those younger than ``Leftovers/minimumAge`` seconds are kept.
    public static func removeLeftovers(in base: String) -> [String] {
        let removed = Leftovers.sweep(base, matching: isStagingName)
        Leftovers.note(removed, in: base, what: "unfinished export folder(s)")
        return removed
    }

    /// Writes the files; on any failure nothing is left behind under the final name.
    ///
    /// - Throws: ``CertVaultError`` `already-exists` when the tenant already has an export folder
    ///   there; `file-system` or `insecure-permissions` otherwise.
    ///
    /// `beforePublish` runs when every file is written and flushed but before the folder gets
    /// its final name; a password that goes elsewhere is recorded there, so that no export is
    /// ever visible whose password was lost. If it throws, nothing is published.
    public static func write(_ credential: IssuedCredential, summaryJSON: [UInt8], to base: String,
                             password destination: PasswordDestination,
                             beforePublish: (() throws -> Void)? = nil) throws -> Paths {
        // The tenant folders inside are 0700; the base may be listable, never writable by others.
        try PrivateFiles.makePrivateDirectory(base, exposure: .listable)
        let tenant = credential.tenant.rawValue
        let final = "\(base)/\(tenant)"
        var exists = stat()
        if lstat(final, &exists) == 0 {
            throw CertVaultError(.alreadyExists, "'\(final)' already exists; certvault never overwrites issued credentials.",
                                 hint: "Move or delete the old folder, or choose another output folder with --out.")
        }
        // A kill leaves a staging folder (possibly with a complete PFX and password.txt): the
        // first export of each run into this folder removes abandoned ones (see `Leftovers`).
        Leftovers.note(Leftovers.sweepOnce(base, matching: isStagingName), in: base, what: "unfinished export folder(s)")
        let staging = try PrivateFiles.makeStagingDirectory(in: base, label: tenant)
        // Held until the folder is published or removed: it marks the staging folder as live.
        let lock = Leftovers.lock(staging)
        defer { if let lock { close(lock) } }
        do {
            try PrivateFiles.writeNewFile("\(staging)/\(tenant).pfx", bytes: credential.pfx)
            try PrivateFiles.writeNewFile("\(staging)/\(tenant).pfx.b64", bytes: credential.pfxBase64.utf8)
            try PrivateFiles.writeNewFile("\(staging)/\(tenant).cer", bytes: credential.certificateDER)
            try PrivateFiles.writeNewFile("\(staging)/\(tenant).pem", bytes: credential.certificatePEM.utf8)
            try PrivateFiles.writeNewFile("\(staging)/summary.json", bytes: summaryJSON)
            if destination == .exportFolder {
                try PrivateFiles.writeNewFile("\(staging)/password.txt", secret: credential.password)
            }
            try beforePublish?()
            try PrivateFiles.publishStagedDirectory(staging, as: final)
        } catch {
            PrivateFiles.removeStagingDirectory(staging)
            throw error
        }
        return Paths(folder: final, pfx: "\(final)/\(tenant).pfx", pfxBase64: "\(final)/\(tenant).pfx.b64",
                     certificateDER: "\(final)/\(tenant).cer", certificatePEM: "\(final)/\(tenant).pem",
                     password: destination == .exportFolder ? "\(final)/password.txt" : nil,
                     summary: "\(final)/summary.json")
    }
}

#if canImport(Glibc)
internal import Glibc
#endif
