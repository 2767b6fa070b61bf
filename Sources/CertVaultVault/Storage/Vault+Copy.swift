public import CertVaultCore
internal import Foundation

/// The result of ``Vault/copy(to:)``.
public struct VaultCopyReport: Sendable, Hashable, Codable {
    /// Entries written to the target.
    public let entriesCopied: Int
    /// Entries the target already held with the same bytes (an earlier, interrupted copy).
    public let entriesAlreadyThere: Int
    /// Audit records appended to the target.
    public let auditRecordsCopied: Int
    /// The target opened and verified after the copy.
    public let verification: VerifyReport
}

extension Vault {
    /// Copies every stored item of this vault (keyring, passphrase-wrapped root key, entries,
    /// audit log and head) into `target`, byte for byte, then opens the target with the same
    /// root key, writes its index (file targets) and verifies it.
    ///
    /// Safe to run again after an interruption: items the target already holds with the same
    /// bytes are kept, and the audit log is continued where the target's copy ends. The source
    /// is read under its writers' lock, so it is a consistent snapshot.
    ///
    /// - Throws: ``CertVaultError`` `already-exists` when the target holds something else (another
    ///   vault, an entry with other bytes, an audit log that is not a prefix of this one's).
    public func copy(to target: any VaultStorage) throws -> VaultCopyReport {
        // The place first (for files, the folder that holds the lock file).
        if !(try target.exists()) { try target.prepareForCreate() }
        let (copied, already, records) = try withLock { try target.withLock { () -> (Int, Int, Int) in
            for blob in [VaultBlob.rootPassphrase, .keyring] {
                guard let source = try storage.readBlob(blob) else { continue }
                if let existing = try target.readBlob(blob) {
                    guard existing.bytes == source.bytes else { throw differs(target.describe(blob.rawValue)) }
                } else {
                    try target.createBlob(blob, bytes: source.bytes)
                }
            }
            var copied = 0
            var already = 0
            for (tenant, generation) in try storage.inventory().entries {
                guard let bytes = try storage.readEntry(tenant: tenant, generation: generation) else { continue }
                if let existing = try target.readEntry(tenant: tenant, generation: generation) {
                    guard existing == bytes else { throw differs(target.describe(FileVaultStorage.entryFileName(tenant: tenant, generation: generation))) }
                    already += 1
                } else {
                    try target.createEntry(tenant: tenant, generation: generation, bytes: bytes)
                    copied += 1
                }
            }
            return (copied, already, try copyAudit(to: target))
        } }
        let copy = try Vault.open(storage: target, root: root, actor: actor)
        if let index = copy.index {
            try copy.withLock {
                let entries = try copy.scanEntries()
                try index.rewrite(try entries.map { ($0, try copy.load($0.tenant, $0.generation).0.header.created) })
            }
        }
        return VaultCopyReport(entriesCopied: copied, entriesAlreadyThere: already, auditRecordsCopied: records,
                               verification: try copy.verify())
    }

    /// Restores a bundle into `target` (which must hold no vault): the bundle is restored and
    /// verified in a staging folder inside `workFolder` (as ``restore(from:to:unlock:actor:)``
    /// does), copied into `target` with ``copy(to:)``, and the staging folder is shredded.
    public static func restoreAndVerify(from bundlePath: String, into target: any VaultStorage, workFolder: String,
                                        unlock: RootKeyProtection, actor: String = Vault.currentUser) throws -> (vault: Vault, report: VerifyReport) {
        if try target.exists() {
            throw CertVaultError(.alreadyExists, "\(target.location) already holds a vault; a restore never writes over anything.",
                                 hint: "Restore into an empty database or folder, check it with 'certvault vault verify', then switch to it.")
        }
        let staging = "\(workFolder)/.restore-into-\(PrivateFiles.randomName())"
        defer { _ = Leftovers.shredFolder(staging) }
        let (restored, _) = try restoreAndVerify(from: bundlePath, to: staging, unlock: unlock, actor: actor)
        let report = try restored.copy(to: target).verification
        guard report.intact else {
            throw CertVaultError(.vaultCorrupt, "The restored vault does not verify in \(target.location): "
                + report.problems.prefix(5).joined(separator: "; "), hint: "Check the target's storage and retry into an empty one.")
        }
        return (try Vault.open(storage: target, root: restored.root, actor: actor), report)
    }

    /// Appends the audit lines the target lacks; the target's log must be a prefix of this one's.
    private func copyAudit(to target: any VaultStorage) throws -> Int {
        let lines = Vault.lines(try storage.readAuditLog())
        let present = Vault.lines(try target.readAuditLog())
        guard present.count <= lines.count, Array(lines.prefix(present.count)) == present else {
            throw differs(target.describe(AuditLog.fileName))
        }
        let missing = Array(lines.dropFirst(present.count))
        guard !missing.isEmpty, let head = try storage.readAuditHead() else { return 0 }
        let presentTail = present.last.flatMap { AuditLog.tail(ofLine: Array($0.utf8))?.sequence } ?? 0
        var appended = 0
        try target.appendAudit { tail in
            guard (tail?.sequence ?? 0) == presentTail else {
                throw differs(target.describe(AuditLog.fileName))
            }
            let records = try missing.map { line -> AuditLine in
                guard let record = AuditLog.tail(ofLine: Array(line.utf8)) else {
                    throw VaultError.corrupt(storage.describe(AuditLog.fileName), "a line is not an audit record; run 'certvault audit verify'")
                }
                return AuditLine(sequence: record.sequence, text: line + "\n")
            }
            appended = records.count
            return AuditAppend(lines: records, head: head)
        }
        return appended
    }

    private func differs(_ name: String) -> CertVaultError {
        CertVaultError(.alreadyExists, "\(name) already holds something other than the vault being copied.",
                       hint: "Copy into an empty place, or into the target of an interrupted copy of this same vault.")
    }

    /// The log's lines without their LF.
    static func lines(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
}
