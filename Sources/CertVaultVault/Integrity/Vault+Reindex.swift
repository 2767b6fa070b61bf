internal import CertVaultCore

extension Vault {
    /// Rebuilds the index from the entry files.
    ///
    /// - Returns: the number of entries indexed.
    public func reindex() throws -> Int { try rebuildIndex().entries }

    /// Rebuilds the index from the entry files, and reports generations that are missing.
    ///
    /// A missing generation (one the old index, the audit log or the numbering knows, whose
    /// file is gone) is not repaired by this: it is named in the `vault.reindex` audit record,
    /// returned here, and `vault verify` keeps reporting it from the audit log.
    public func rebuildIndex() throws -> ReindexReport {
        try withLock {
            let entries = try scanEntries()
            let missing = missingGenerations(present: entries.map { ($0.tenant.rawValue, $0.generation) }, records: audit.verify().records)
            try index?.rewrite(try entries.map { ($0, try load($0.tenant, $0.generation).0.header.created) })
            let names = missing.map { "\($0.tenant)/\($0.generation)" }
            try audit.append(actor: actor, action: "vault.reindex", detail: "\(entries.count) entries"
                + (names.isEmpty ? "" : "; missing (deleted) generations: \(names.joined(separator: ", "))"))
            return ReindexReport(entries: entries.count, missing: names)
        }
    }
}

/// The result of ``Vault/rebuildIndex()``.
public struct ReindexReport: Sendable, Hashable, Codable {
    /// Entries now in the index.
    public let entries: Int
    /// Generations known to exist (index, audit log, numbering) whose files are gone, as `tenant/generation`.
    public let missing: [String]
}
