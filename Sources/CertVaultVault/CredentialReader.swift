public import CertVaultCore
internal import Foundation

/// What reading a restore credential needs from a vault: its generations, their facts, and an
/// audited read-out. ``Vault`` is one (one fsync per read); ``CredentialReader/Caller`` is the
/// other (group commit, usable from many threads at once).
public protocol CredentialSource {
    /// The generation numbers stored for a tenant, ascending.
    func generations(of tenant: TenantID) throws -> [Int]
    /// A stored generation's facts, status and VB365 fields, without its secrets.
    func summary(tenant: TenantID, generation: Int) throws -> EntrySummary
    /// Reads out a generation's secrets; returns only once the read's audit record is durable.
    func readOut(tenant: TenantID, generation: Int?, purpose: String) throws -> (Int, EntryPayload, EntryMetadata)
}

extension Vault: CredentialSource {}

/// Audited credential reads for many concurrent callers (the service's threads): each read's
/// `entry.read` record is durable before the secret is returned, and one fsync covers every
/// read waiting at that moment (``AuditCommitter``).
///
/// It has its own handle on the vault (made by ``Vault/credentialReader(actor:)`` with the same
/// root key), guarded by a lock, so it never shares a ``Vault`` (not thread-safe) with its
/// maker. The records are the same as ``Vault/readOut(tenant:generation:purpose:)`` writes,
/// with the actor of each call (for the service: the token's accessor).
public final class CredentialReader: @unchecked Sendable {
    /// The reader's own vault handle; used only under `lock`.
    private let vault: Vault
    private let lock = NSLock()
    /// The group commit every read goes through (its ``AuditCommitter/statistics`` count the records).
    public let committer: AuditCommitter

    init(vault: Vault) throws {
        self.vault = vault
        // Its own storage object: the committer's lock is then a lock of its own (for files, its own `flock` descriptor).
        self.committer = AuditCommitter(audit: try vault.audit.onAnotherHandle(), folder: vault.path, actor: vault.actor)
    }

    /// The vault folder.
    public var path: String { vault.path }

    /// Reads out a generation's secrets (PFX and password) and returns them once the read's audit
    /// record (`entry.read`, `actor`, tenant, generation, `purpose`) is durable. Blocks the calling
    /// thread (a pool thread): decrypting here, then waiting for the group commit.
    ///
    /// - Parameters:
    ///   - generation: nil for the newest active generation.
    ///   - actor: who reads (for the service, `token <accessor>`); nil for the vault's actor.
    /// - Throws: the vault's errors (not found, corrupt), and ``CertVaultError`` `file-system` when
    ///   the record could not be made durable: then no secret is returned.
    public func readOut(tenant: TenantID, generation: Int? = nil, purpose: String,
                        actor: String? = nil) throws -> (Int, EntryPayload, EntryMetadata) {
        let opened = try lock.withLock { try vault.openForReadOut(tenant: tenant, generation: generation) }
        let record = AuditLog.Pending(action: "entry.read", tenant: tenant.rawValue, generation: opened.0, detail: purpose, actor: actor)
        _ = try committer.wait { record }
        return opened
    }

    /// The same read-out, suspending instead of blocking: the entry is opened and the record
    /// written on the committer's thread, so an event loop is never blocked.
    public func readOut(tenant: TenantID, generation: Int? = nil, purpose: String,
                        actor: String? = nil) async throws -> (Int, EntryPayload, EntryMetadata) {
        let box = OpenedBox()
        _ = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            committer.enqueue(AuditCommitter.Job(
                prepare: { [self] in
                    let opened = try lock.withLock { try vault.openForReadOut(tenant: tenant, generation: generation) }
                    box.opened = opened
                    return AuditLog.Pending(action: "entry.read", tenant: tenant.rawValue, generation: opened.0, detail: purpose, actor: actor)
                },
                complete: { continuation.resume(with: $0) }))
        }
        return box.opened!
    }

    /// The generation numbers stored for a tenant, ascending.
    public func generations(of tenant: TenantID) throws -> [Int] {
        try lock.withLock { try vault.generations(of: tenant) }
    }

    /// A stored generation's facts, status and VB365 fields, without its secrets (not audited).
    public func summary(tenant: TenantID, generation: Int) throws -> EntrySummary {
        try lock.withLock { try vault.summary(tenant: tenant, generation: generation) }
    }

    /// This reader with every read attributed to `actor` (nil: the vault's actor), as a
    /// ``CredentialSource`` (for `RestoreCredential.retrieve(vault:...)`).
    public func acting(as actor: String?) -> Caller { Caller(reader: self, actor: actor) }

    /// A ``CredentialReader`` bound to one actor.
    public struct Caller: CredentialSource, Sendable {
        /// The reader.
        public let reader: CredentialReader
        /// Who reads; nil for the vault's actor.
        public let actor: String?

        public func generations(of tenant: TenantID) throws -> [Int] { try reader.generations(of: tenant) }

        public func summary(tenant: TenantID, generation: Int) throws -> EntrySummary {
            try reader.summary(tenant: tenant, generation: generation)
        }

        public func readOut(tenant: TenantID, generation: Int?, purpose: String) throws -> (Int, EntryPayload, EntryMetadata) {
            try reader.readOut(tenant: tenant, generation: generation, purpose: purpose, actor: actor)
        }
    }
}

/// The opened entry, handed from the committer's thread to the suspended caller.
private final class OpenedBox: @unchecked Sendable {
    var opened: (Int, EntryPayload, EntryMetadata)?
}

extension Vault {
    /// A reader for audited credential reads from many threads at once, with group commit of
    /// the audit records. It opens its own handle on this vault (same root key), so this handle
    /// stays the caller's.
    ///
    /// - Parameter actor: the actor of reads that name none; nil for this handle's.
    public func credentialReader(actor: String? = nil) throws -> CredentialReader {
        try CredentialReader(vault: try Vault.open(storage: try storage.anotherHandle(), root: root, actor: actor ?? self.actor))
    }
}
