public import CertVaultAccess
internal import CertVaultCore
internal import Foundation
internal import PostgresNIO

/// The token store or the invitation store in the shared database: one row of `access_stores`
/// (`name` = `tokens` or `invitations`) holding exactly the bytes the store's file would hold (its
/// MAC, key check and revision included), and the revision the row was written at.
///
/// Changes are compare-and-swap on the row's revision (`UPDATE ... WHERE revision = $read`; the
/// first write is an `INSERT ... ON CONFLICT DO NOTHING`): of two replicas writing at once one
/// wins, the other reads again and re-applies its change (``TokenStore`` and ``InvitationStore``
/// do that), so no change is lost and an invitation is completed once. Whoever edits the row without
/// the vault's root key breaks the MAC: the store refuses it, as it refuses an edited file.
public final class PostgresAccessDocuments: AccessDocumentBackend {
    /// Which store.
    public enum Store: String, Sendable {
        /// The API tokens.
        case tokens
        /// The invitation links.
        case invitations
    }

    let database: PostgresDatabase
    /// The row.
    public let store: Store

    /// The row of `store` in `database` (migrated).
    public init(database: PostgresDatabase, store: Store) {
        self.database = database
        self.store = store
    }

    /// `postgres://.../DB access_stores 'tokens'`.
    public var location: String { "\(database.settings.displayURL) access_stores '\(store.rawValue)'" }

    /// The row's revision, or nil when there is no row. One small query.
    public func currentVersion() throws -> AccessDocumentVersion? {
        let name = store.rawValue
        return try database.blocking { client in
            var revision: Int64?
            for try await value in try await client.query(
                "SELECT revision FROM access_stores WHERE name = \(name)", logger: PostgresDatabase.quiet
            ).decode(Int64.self) {
                revision = value
            }
            return revision.map { AccessDocumentVersion([$0]) }
        }
    }

    /// The row's bytes and revision, or nil when there is no row.
    public func read() throws -> AccessDocument? {
        let name = store.rawValue
        return try database.blocking { client in
            var document: AccessDocument?
            for try await (bytes, revision) in try await client.query(
                "SELECT bytes, revision FROM access_stores WHERE name = \(name)", logger: PostgresDatabase.quiet
            ).decode((Data, Int64).self) {
                document = AccessDocument(bytes: Array(bytes), version: AccessDocumentVersion([revision]))
            }
            return document
        }
    }

    /// Writes the row if its revision is still the one in `expected` (no row when nil); nil when
    /// another writer got there first. Committed when it returns.
    public func write(_ bytes: [UInt8], revision: UInt64, replacing expected: AccessDocumentVersion?) throws -> AccessDocumentVersion? {
        let name = store.rawValue
        let data = Data(bytes)
        let newRevision = Int64(clamping: revision)
        let expectedRevision = expected?.values.first
        return try database.blocking { client in
            let rows: PostgresRowSequence
            if let expectedRevision {
                rows = try await client.query(
                    """
                    UPDATE access_stores SET bytes = \(data), revision = \(newRevision), updated_at = now()
                    WHERE name = \(name) AND revision = \(expectedRevision) RETURNING revision
                    """, logger: PostgresDatabase.quiet)
            } else {
                rows = try await client.query(
                    """
                    INSERT INTO access_stores (name, bytes, revision) VALUES (\(name), \(data), \(newRevision))
                    ON CONFLICT (name) DO NOTHING RETURNING revision
                    """, logger: PostgresDatabase.quiet)
            }
            var written: AccessDocumentVersion?
            for try await value in rows.decode(Int64.self) { written = AccessDocumentVersion([value]) }
            return written
        }
    }
}
