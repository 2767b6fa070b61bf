/// Where a ``WebhookOutbox`` keeps its events when it is not its own folder: the shared database
/// (`PostgresWebhookOutbox` in CertVaultPostgres). The folder layout stays in ``WebhookOutbox``
/// itself (`init(path:receivers:logger:clock:)`).
///
/// Each delivery (one event for one receiver) is one record named
/// ``WebhookOutbox/fileName(eventID:receiver:)``; recording a name again changes nothing, so each
/// event is kept once per id and receiver. ``claimDue(now:limit:)`` hands out due deliveries to one
/// caller at a time: while one replica sends an event, no other replica gets it.
public protocol WebhookOutboxBackend: Sendable {
    /// Where the outbox is, for messages (no secret).
    var location: String { get }

    /// Stores `entry` under `name` unless that name exists; true when it was added. Durable (committed)
    /// when it returns.
    ///
    /// - Throws: ``CertVaultError`` `storage-unavailable`.
    func insert(name: String, entry: OutboxEntry) throws -> Bool

    /// Up to `limit` deliveries due at `now` (Unix seconds), the longest overdue first, each claimed
    /// for the caller: nobody else gets it until the caller reports its outcome or the claim expires.
    ///
    /// - Throws: ``CertVaultError`` `storage-unavailable`.
    func claimDue(now: Double, limit: Int) throws -> [WebhookOutbox.Pending]

    /// The delivery succeeded: the record goes.
    func remove(name: String) throws

    /// A failed attempt: the record's attempts, next attempt and last error, releasing the claim.
    func reschedule(name: String, entry: OutboxEntry) throws

    /// Given up on: the record is kept apart (dead) with its last error.
    func park(name: String, entry: OutboxEntry) throws

    /// How many deliveries are pending.
    func pendingCount() throws -> Int

    /// How many were given up on.
    func deadCount() throws -> Int

    /// When the next pending delivery is due (Unix seconds), or nil.
    func nextDueTime() throws -> Double?
}
