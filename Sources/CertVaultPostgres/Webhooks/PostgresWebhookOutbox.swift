public import CertVaultWebhooks
internal import CertVaultCore
internal import Foundation
public import Logging
internal import PostgresNIO

/// The webhook outbox in the shared database: one row of `webhook_outbox` per event and receiver
/// (`id` = ``WebhookOutbox/fileName(eventID:receiver:)``, `entry` = the JSON an outbox file holds;
/// never a secret: receivers' URLs are in the configuration, and the signing key too).
///
/// - Recording is an `INSERT ... ON CONFLICT DO NOTHING` in its own transaction: committed when
///   ``insert(name:entry:)`` returns, and an event id recorded twice (by two replicas) is one row.
/// - Delivery claims rows: `UPDATE ... SET next_attempt_at = now + claim WHERE id IN (SELECT ... FOR
///   UPDATE SKIP LOCKED LIMIT n) RETURNING ...`, so two replicas never get the same due row at once;
///   the outcome then deletes the row (delivered), sets its next attempt (failed) or marks it `dead`.
///   A replica that dies holding a claim leaves the row to be sent by another after ``claimSeconds``.
///
/// Times are Unix seconds from the deliverer's clock (replicas keep their clocks in step with NTP).
public final class PostgresWebhookOutbox: WebhookOutboxBackend {
    let database: PostgresDatabase
    /// How long a claimed delivery is withheld from other replicas (longer than a batch of deliveries takes).
    public let claimSeconds: Double
    private let logger: Logger

    /// The outbox in `database` (migrated).
    public init(database: PostgresDatabase, claimSeconds: Double = 300,
                logger: Logger = Logger(label: "certvault.webhooks", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.database = database
        self.claimSeconds = claimSeconds
        self.logger = logger
    }

    /// `postgres://.../DB webhook_outbox`.
    public var location: String { "\(database.settings.displayURL) webhook_outbox" }

    public func insert(name: String, entry: OutboxEntry) throws -> Bool {
        let bytes = Data(try entry.encoded())
        let due = entry.nextAttemptAt
        return try database.blocking { client in
            var added = false
            for try await _ in try await client.query(
                """
                INSERT INTO webhook_outbox (id, entry, state, next_attempt_at)
                VALUES (\(name), \(bytes), 'pending', to_timestamp(\(due)))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, logger: PostgresDatabase.quiet
            ).decode(String.self) {
                added = true
            }
            return added
        }
    }

    public func claimDue(now: Double, limit: Int) throws -> [WebhookOutbox.Pending] {
        let until = now + claimSeconds
        let limit = max(1, limit)
        let rows = try database.blocking { client in
            var rows: [(String, Data)] = []
            for try await (id, entry) in try await client.query(
                """
                UPDATE webhook_outbox SET next_attempt_at = to_timestamp(\(until))
                WHERE id IN (
                    SELECT id FROM webhook_outbox
                    WHERE state = 'pending' AND next_attempt_at <= to_timestamp(\(now))
                    ORDER BY next_attempt_at, id
                    FOR UPDATE SKIP LOCKED LIMIT \(limit)
                )
                RETURNING id, entry
                """, logger: PostgresDatabase.quiet
            ).decode((String, Data).self) {
                rows.append((id, entry))
            }
            return rows
        }
        var pending: [WebhookOutbox.Pending] = []
        for (id, bytes) in rows {
            do {
                pending.append(WebhookOutbox.Pending(name: id, entry: try OutboxEntry.decode(Array(bytes))))
            } catch {
                // Kept, not sent: marked dead so that it stops coming back; an operator can look at it.
                logger.error("webhook outbox: row '\(id)' of \(location) is not a readable event (\(error)); marked dead, nothing was sent for it")
                try? database.blocking { client in
                    _ = try await client.query("UPDATE webhook_outbox SET state = 'dead' WHERE id = \(id)",
                                               logger: PostgresDatabase.quiet).collect()
                }
            }
        }
        return pending.sorted { ($0.entry.nextAttemptAt, $0.name) < ($1.entry.nextAttemptAt, $1.name) }
    }

    public func remove(name: String) throws {
        try database.blocking { client in
            _ = try await client.query("DELETE FROM webhook_outbox WHERE id = \(name)", logger: PostgresDatabase.quiet).collect()
        }
    }

    public func reschedule(name: String, entry: OutboxEntry) throws {
        let bytes = Data(try entry.encoded())
        let due = entry.nextAttemptAt
        try database.blocking { client in
            _ = try await client.query(
                """
                UPDATE webhook_outbox SET entry = \(bytes), next_attempt_at = to_timestamp(\(due))
                WHERE id = \(name) AND state = 'pending'
                """, logger: PostgresDatabase.quiet
            ).collect()
        }
    }

    public func park(name: String, entry: OutboxEntry) throws {
        let bytes = Data(try entry.encoded())
        try database.blocking { client in
            _ = try await client.query(
                "UPDATE webhook_outbox SET entry = \(bytes), state = 'dead' WHERE id = \(name)", logger: PostgresDatabase.quiet
            ).collect()
        }
    }

    public func pendingCount() throws -> Int { try count(state: "pending") }

    public func deadCount() throws -> Int { try count(state: "dead") }

    private func count(state: String) throws -> Int {
        try database.blocking { client in
            var count = 0
            for try await value in try await client.query(
                "SELECT count(*) FROM webhook_outbox WHERE state = \(state)", logger: PostgresDatabase.quiet
            ).decode(Int.self) {
                count = value
            }
            return count
        }
    }

    public func nextDueTime() throws -> Double? {
        try database.blocking { client in
            var due: Double?
            for try await value in try await client.query(
                "SELECT extract(epoch FROM min(next_attempt_at))::float8 FROM webhook_outbox WHERE state = 'pending'",
                logger: PostgresDatabase.quiet
            ).decode(Double?.self) {
                due = value
            }
            return due
        }
    }
}
