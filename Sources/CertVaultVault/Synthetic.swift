internal import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

/// Large vaults made quickly, for tests and benchmarks of the vault at scale (backup and
/// restore of 100,000 generations and bundles of a gigabyte, list, onboarding against a full
/// vault). Not used by the product.
///
/// The files are the real formats, written by the same code as `store`: sealed entries under
/// the current KEK, index lines, `entry.create` audit records. Only the work that makes `store`
/// slow one entry at a time is batched: files are written without fsync (one `syncfs` at the
/// end), the index and the audit log are appended in large blocks.
extension Vault {
    static let syntheticDetail = "synthetic record for a large audit log (tests and benchmarks only); "
        + String(repeating: "the quick brown fox jumps over the lazy dog ", count: 5)

    /// Adds `tenants` new tenants named `<prefix><n>` with `generationsPerTenant` generations
    /// each, every payload holding a synthetic PFX of `pfxBytes` bytes.
    ///
    /// - Returns: the number of entries written.
    package func fillSynthetic(tenants: Int, generationsPerTenant: Int = 1, pfxBytes: Int = 2600, prefix: String = "synthetic",
                               auditRecordsPerEntry: Bool = true, now: Int64? = nil) throws -> Int {
        let now = now ?? UTCTime.now()
        return try withLock {
            var indexItems: [(EntrySummary, Int64)] = []
            var auditItems: [AuditLog.Pending] = []
            var written = 0
            let pfx = (0..<pfxBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let certificate = (0..<870).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            func flushBatches() throws {
                try index?.append(indexItems)
                try audit.appendMany(auditItems, actor: actor, now: now)
                indexItems.removeAll(keepingCapacity: true)
                auditItems.removeAll(keepingCapacity: true)
            }
            for number in 0..<tenants {
                let tenant = try TenantID("\(prefix)\(number)")
                if fileStorage != nil { try PrivateFiles.makePrivateDirectory(tenantFolder(tenant)) }
                for generation in 1...max(1, generationsPerTenant) {
                    let thumbprint = String(repeating: String(format: "%02X", (number + generation) % 256), count: 20)
                    let payload = EntryPayload(
                        pfx: pfx, password: SecretBytes.random(count: 24), certificateDER: certificate,
                        facts: CertificateFacts(friendlyName: "\(tenant) VB365 Tenant", thumbprintSHA1: thumbprint,
                                                fingerprintSHA256: String(repeating: "B", count: 64), serialNumber: "01",
                                                notBefore: "2026-01-01T00:00:00Z", notAfter: "2036-01-01T00:00:00Z", policy: "synthetic",
                                                subject: "CN=\(tenant)"))
                    let metadata = EntryMetadata(notAfter: payload.facts.notAfter, thumbprintSHA1: thumbprint)
                    let header = EntryFile.Header(tenant: tenant, generation: UInt32(generation), created: now)
                    let bytes = try EntryFile.seal(header: header, payload: payload, metadata: metadata, kek: keyring.current)
                    if fileStorage == nil {
                        try storage.createEntry(tenant: tenant, generation: generation, bytes: bytes)
                    } else {
                    let file = entryPath(tenant, generation)
                    let fd = Glibc.open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                    guard fd >= 0 else { throw CertVaultError(.fileSystem, "Cannot create '\(file)'.", underlying: PrivateFiles.errnoText()) }
                    defer { close(fd) }
                    try bytes.withUnsafeBytes { try PrivateFiles.writeAll(fd: fd, $0, what: file) }
                    }
                    indexItems.append((EntrySummary(tenant: tenant, generation: generation, created: UTCTime.dateTime(now),
                                                    kekID: Int(keyring.current.id), metadata: metadata), now))
                    if auditRecordsPerEntry {
                        auditItems.append(AuditLog.Pending(action: "entry.create", tenant: tenant.rawValue, generation: generation,
                                                           detail: "thumbprint \(thumbprint)"))
                    }
                    written += 1
                }
                if indexItems.count >= 5000 { try flushBatches() }
            }
            try flushBatches()
            if fileStorage != nil { try Leftovers.syncFileSystem(of: path) }
            return written
        }
    }

    /// Appends `count` synthetic audit records (`entry.read` of a made-up tenant), for a large
    /// audit log; about 420 bytes each (a long detail, so that fewer records make a big log).
    package func appendSyntheticAuditRecords(_ count: Int, now: Int64? = nil) throws {
        try withLock {
            var done = 0
            while done < count {
                let batch = min(50_000, count - done)
                try audit.appendMany((0..<batch).map { index in
                    AuditLog.Pending(action: "entry.read", tenant: "synthetic-audit", generation: done + index + 1,
                                     detail: Vault.syntheticDetail)
                }, actor: actor, now: now)
                done += batch
            }
        }
    }
}
