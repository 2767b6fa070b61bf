public import CertVaultCore
public import CertVaultOnboarding
internal import Foundation
internal import Logging
internal import PostgresNIO

/// Leases shared by every replica: rows of the table `leases` (name, holder, fence, expires_at).
///
/// Every expiry is computed by the database (`now()`), never by a replica's clock. Taking a lease
/// is one statement, so two replicas racing for it cannot both win:
///
///     INSERT INTO leases ... ON CONFLICT (name) DO UPDATE SET holder = $me,
///         fence = leases.fence + 1 (only when the holder changes), expires_at = now() + $seconds
///     WHERE leases.expires_at < now() OR leases.holder = $me RETURNING fence
///
/// A released lease keeps its row (with `expires_at = -infinity`), so its fence never goes back:
/// the next holder always gets a higher one. A row's fence is what ``PostgresOnboardingBackend``
/// checks, in the same transaction, before it writes a record for a lease's holder.
public final class PostgresLeases: LeaseService {
    let database: PostgresDatabase

    /// Leases in `database` (migrated: the table `leases` exists).
    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func acquire(_ name: String, holder: String, seconds: Double) throws -> Lease? {
        try database.blocking { client in
            let rows = try await client.query(
                """
                WITH previous AS (SELECT holder, expires_at FROM leases WHERE name = \(name))
                INSERT INTO leases AS l (name, holder, fence, expires_at)
                VALUES (\(name), \(holder), 1, now() + make_interval(secs => \(seconds)))
                ON CONFLICT (name) DO UPDATE SET
                    holder = EXCLUDED.holder,
                    fence = CASE WHEN l.holder = EXCLUDED.holder THEN l.fence ELSE l.fence + 1 END,
                    expires_at = EXCLUDED.expires_at,
                    acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE now() END
                WHERE l.expires_at < now() OR l.holder = EXCLUDED.holder
                RETURNING l.fence,
                    (SELECT p.holder FROM previous p),
                    COALESCE((SELECT p.holder <> \(holder) AND p.expires_at <> '-infinity'::timestamptz FROM previous p), false)
                """, logger: PostgresDatabase.quiet)
            for try await (fence, previous, takenOver) in rows.decode((Int64, String?, Bool).self) {
                return Lease(name: name, holder: holder, fence: fence, takenOver: takenOver,
                             previousHolder: previous == holder ? nil : previous)
            }
            return nil
        }
    }

    public func renew(_ lease: Lease, seconds: Double) throws -> Lease? {
        try database.blocking { client in
            let rows = try await client.query(
                """
                UPDATE leases SET expires_at = now() + make_interval(secs => \(seconds))
                WHERE name = \(lease.name) AND holder = \(lease.holder) AND fence = \(lease.fence)
                RETURNING fence
                """, logger: PostgresDatabase.quiet)
            for try await _ in rows.decode(Int64.self) { return lease }
            return nil
        }
    }

    public func release(_ lease: Lease) throws {
        try database.blocking { client in
            _ = try await client.query(
                """
                UPDATE leases SET expires_at = '-infinity'::timestamptz
                WHERE name = \(lease.name) AND holder = \(lease.holder) AND fence = \(lease.fence)
                """, logger: PostgresDatabase.quiet).collect()
        }
    }

    public func isCurrent(_ lease: Lease) throws -> Bool {
        try database.blocking { client in
            let rows = try await client.query(
                """
                SELECT fence FROM leases WHERE name = \(lease.name) AND holder = \(lease.holder) AND fence = \(lease.fence)
                AND expires_at > now()
                """, logger: PostgresDatabase.quiet)
            for try await _ in rows.decode(Int64.self) { return true }
            return false
        }
    }

    /// Checks, inside a transaction, that `lease` is still current (same holder and fence) and
    /// locks its row until the transaction ends, so no takeover commits in between.
    ///
    /// - Throws: `lease-lost` when another holder took the lease over.
    static func checkFence(_ lease: Lease, on connection: PostgresConnection) async throws {
        let rows = try await connection.query(
            "SELECT holder, fence FROM leases WHERE name = \(lease.name) FOR UPDATE", logger: PostgresDatabase.quiet)
        var current: (String, Int64)?
        for try await row in rows.decode((String, Int64).self) { current = row }
        guard let current, current.0 == lease.holder, current.1 == lease.fence else {
            throw CertVaultError(.leaseLost, "The lease '\(lease.name)' of this replica (fence \(lease.fence)) was taken over "
                                 + "by another holder\(current.map { " (fence \($0.1))" } ?? ""); nothing was written.",
                                 hint: "Another replica continues this work and reconciles it; nothing needs doing here.")
        }
    }
}
